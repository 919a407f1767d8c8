package journald

import (
	"context"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

func TestTrackerCommitsTheAcknowledgedPrefix(t *testing.T) {
	commits := 0
	tr := newTracker(position{Cursor: "c0"}, nil, func() { commits++ })
	a1 := tr.Add(position{Cursor: "c1"})
	a2 := tr.Add(position{Cursor: "c2"})
	tr.Mark(position{Cursor: "c3"}) // excluded entries after batch 2
	a4 := tr.Add(position{Cursor: "c4"})

	a2.Release(ackStatus(true))
	if got := tr.Snapshot().Cursor; got != "c0" {
		t.Fatalf("committed %s past an unacknowledged batch", got)
	}
	a1.Release(ackStatus(true))
	if got := tr.Snapshot().Cursor; got != "c3" {
		t.Fatalf("committed %s, want c3", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := tr.Wait(ctx); err == nil {
		t.Fatal("wait returned with a batch in flight")
	}
	a4.Release(ackStatus(false))
	if !tr.FailedBatch() || tr.Snapshot().Cursor != "c3" {
		t.Fatal("a failed batch must hold the position and be reported")
	}
	if got := tr.Rewind(); got.Cursor != "c3" || tr.FailedBatch() {
		t.Fatalf("rewind to %s", got.Cursor)
	}
	// Late acknowledgements of forgotten batches change nothing.
	a5 := tr.Add(position{Cursor: "c5"})
	a5.Release(ackStatus(true))
	if got := tr.Snapshot().Cursor; got != "c5" || commits != 2 {
		t.Fatalf("committed %s after %d commits", got, commits)
	}
	if err := tr.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// ackStatus is the status a consumer releases with.
func ackStatus(ok bool) event.Status {
	if ok {
		return event.Delivered
	}
	return event.Failed
}
