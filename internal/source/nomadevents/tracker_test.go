package nomadevents

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

func pos(i uint64) Cursor { return Cursor{Index: i, Seen: []uint64{i}, Exact: true} }

func TestTrackerCommitsTheContiguousPrefix(t *testing.T) {
	m := metrics.ForTest("source", SourceType, "t")
	commits := 0
	tr := newTracker(Cursor{Index: 1}, m.Unacknowledged, func() { commits++ })
	a, b, c := tr.Add(pos(10)), tr.Add(pos(11)), tr.Add(pos(12))
	if got := testutil.ToFloat64(m.Unacknowledged); got != 3 {
		t.Fatalf("in flight %v", got)
	}
	c.Release(event.Delivered)
	b.Release(event.Delivered)
	if got := tr.Snapshot(); got.Index != 1 || commits != 0 {
		t.Fatalf("committed %+v past an unacknowledged batch", got)
	}
	a.Release(event.Delivered)
	if got := tr.Snapshot(); got.Index != 12 || commits != 1 {
		t.Fatalf("committed %+v after %d commits", got, commits)
	}
	if err := tr.Wait(context.Background()); err != nil || testutil.ToFloat64(m.Unacknowledged) != 0 {
		t.Fatalf("wait %v, in flight %v", err, testutil.ToFloat64(m.Unacknowledged))
	}
}

func TestTrackerFailureHoldsAndRewinds(t *testing.T) {
	tr := newTracker(Cursor{}, nil, nil)
	a, b, c := tr.Add(pos(10)), tr.Add(pos(11)), tr.Add(pos(12))
	a.Release(event.Delivered)
	b.Retain(1)
	b.Release(event.Failed)
	b.Release(event.Delivered)
	select {
	case <-tr.Failures():
	default:
		t.Fatal("failure not signalled")
	}
	c.Release(event.Delivered)
	if got := tr.Snapshot(); got.Index != 10 || !tr.FailedBatch() {
		t.Fatalf("committed %+v past a failed batch (failed %v)", got, tr.FailedBatch())
	}
	if got := tr.Rewind(); got.Index != 10 || tr.FailedBatch() {
		t.Fatalf("rewind to %+v (failed %v)", got, tr.FailedBatch())
	}
	select {
	case <-tr.Failures():
		t.Fatal("rewind left the failure signal")
	default:
	}
	// Acknowledgements of batches from before the rewind are ignored.
	d := tr.Add(pos(11))
	tr.Add(pos(13)) // never acknowledged
	d.Release(event.Delivered)
	if got := tr.Snapshot(); got.Index != 11 {
		t.Fatalf("committed %+v after the rewind", got)
	}
}

func TestTrackerMarkAndWait(t *testing.T) {
	tr := newTracker(pos(50), nil, nil)
	a := tr.Add(pos(51))
	tr.Mark(Cursor{}) // index regression: reset once 51 is in
	if got := tr.Snapshot(); got.Index != 50 {
		t.Fatalf("mark committed before the batch ahead of it: %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := tr.Wait(ctx); err == nil {
		t.Fatal("wait returned with a batch in flight")
	}
	a.Release(event.Delivered)
	if got := tr.Snapshot(); got.Index != 0 || got.Exact {
		t.Fatalf("committed %+v, want the reset cursor", got)
	}
	if err := tr.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
