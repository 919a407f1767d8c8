package tail

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestProgressContiguousPrefix(t *testing.T) {
	var commits int
	p := NewProgress(Fingerprint{}, 0, nil, func() { commits++ })
	a1, a2, a3 := p.Add(10), p.Add(20), p.Add(30)
	a3.Release(event.Delivered)
	a2.Release(event.Delivered)
	if got := p.Committed(); got != 0 {
		t.Fatalf("committed %d before the first batch was acked", got)
	}
	a1.Release(event.Delivered)
	if got := p.Committed(); got != 30 {
		t.Fatalf("committed %d, want 30", got)
	}
	if p.Pending() != 0 || commits != 1 {
		t.Fatalf("pending %d commits %d", p.Pending(), commits)
	}
}

func TestProgressFailedHoldsOffset(t *testing.T) {
	p := NewProgress(Fingerprint{}, 5, nil, nil)
	a1, a2, a3 := p.Add(10), p.Add(20), p.Add(30)
	a1.Release(event.Delivered)
	a2.Release(event.Failed)
	a3.Release(event.Delivered)
	if got := p.Committed(); got != 10 {
		t.Fatalf("committed %d, want 10", got)
	}
	if !p.Failed() {
		t.Fatal("Failed() = false")
	}
	// Rejected is a verdict: the source may move past it.
	a4 := p.Add(40)
	a4.Release(event.Rejected)
	if got := p.Committed(); got != 10 {
		t.Fatalf("committed %d moved past a failed batch", got)
	}
	p.Reset(Fingerprint{}, 10)
	if p.Failed() || p.Pending() != 0 {
		t.Fatal("Reset kept state")
	}
}

func TestProgressRejectedCommits(t *testing.T) {
	p := NewProgress(Fingerprint{}, 0, nil, nil)
	a := p.Add(10)
	a.Retain(1)
	a.Release(event.Delivered) // the source's own hold
	a.Release(event.Rejected)  // the sink's
	if got := p.Committed(); got != 10 {
		t.Fatalf("committed %d", got)
	}
}

func TestProgressAdvance(t *testing.T) {
	p := NewProgress(Fingerprint{}, 0, nil, nil)
	p.Advance(5) // nothing in flight: committed at once
	if p.Committed() != 5 {
		t.Fatal(p.Committed())
	}
	a := p.Add(10)
	p.Advance(15) // behind a batch in flight: waits for it
	if p.Committed() != 5 {
		t.Fatal(p.Committed())
	}
	a.Release(event.Delivered)
	if p.Committed() != 15 {
		t.Fatal(p.Committed())
	}
}

func TestProgressResetIgnoresOldAcks(t *testing.T) {
	in := checkpoint.NewInflight(nil)
	p := NewProgress(Fingerprint{}, 0, in, nil)
	old := p.Add(100)
	p.Reset(Fingerprint{HeadLen: 1}, 0)
	a := p.Add(10)
	old.Release(event.Delivered)
	if got := p.Committed(); got != 0 {
		t.Fatalf("an ack from before Reset moved the offset to %d", got)
	}
	a.Release(event.Delivered)
	if got := p.Committed(); got != 10 {
		t.Fatalf("committed %d", got)
	}
	if in.Count() != 0 {
		t.Fatalf("inflight %d", in.Count())
	}
}

func TestProgressConcurrentAcks(t *testing.T) {
	m := metrics.ForTest("source", "file", "x")
	in := checkpoint.NewInflight(m.Unacknowledged)
	p := NewProgress(Fingerprint{}, 0, in, nil)
	const n = 1000
	acks := make([]*event.Ack, n)
	for i := range acks {
		acks[i] = p.Add(int64(i+1) * 10)
	}
	if got := testutil.ToFloat64(m.Unacknowledged); got != n {
		t.Fatalf("gauge %v", got)
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := n - 1 - w; i >= 0; i -= 8 {
				acks[i].Release(event.Delivered)
			}
		}(w)
	}
	wg.Wait()
	if got := p.Committed(); got != n*10 {
		t.Fatalf("committed %d", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := in.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.Unacknowledged); got != 0 {
		t.Fatalf("gauge %v", got)
	}
}

func TestInflightWaitTimesOut(t *testing.T) {
	in := checkpoint.NewInflight(nil)
	p := NewProgress(Fingerprint{}, 0, in, nil)
	a := p.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := in.Wait(ctx); err == nil {
		t.Fatal("Wait returned with a batch in flight")
	}
	a.Release(event.Delivered)
	if err := in.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
