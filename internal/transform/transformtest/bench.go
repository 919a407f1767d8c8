package transformtest

import (
	"context"
	"runtime"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
)

// Sink is an Emitter that takes and releases batches at once, as a fast
// sink would, and counts the events.
type Sink struct{ N int }

// Emit implements component.Emitter.
func (s *Sink) Emit(_ context.Context, b *event.Batch) error { s.N += len(b.Events); return nil }

// Consumed reports that something reads this output.
func (s *Sink) Consumed() bool { return true }

// Bench runs t over a batch of evs b.N times and reports events/s and
// allocations per event (allocs/event; allocs/op is per batch).
func Bench(b *testing.B, t component.Transform, out component.Emitter, evs []event.Event) {
	b.Helper()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bt := &event.Batch{Events: evs, Ack: event.NewAck(nil)}
		if err := t.Process(ctx, bt, out); err != nil {
			b.Fatal(err)
		}
		bt.Ack.Release(event.Delivered)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	n := float64(b.N) * float64(len(evs))
	b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
	// Two allocations per batch are the harness's (the batch and its Ack).
	b.ReportMetric((float64(after.Mallocs-before.Mallocs)-2*float64(b.N))/n, "allocs/event")
}
