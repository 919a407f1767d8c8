package topology

import (
	"context"
	"sync"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
)

// A holding transform keeps every event it takes until it is flushed, as a
// multiline transform keeps an unfinished event: it retains each batch's
// Ack and emits the held events under an Ack that joins them.
type holdTransform struct {
	mu   sync.Mutex
	evs  []event.Event
	acks []*event.Ack
	runs int
}

func (h *holdTransform) Process(_ context.Context, b *event.Batch, _ component.Emitter) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	b.Ack.Retain(1)
	h.acks = append(h.acks, b.Ack)
	h.evs = append(h.evs, b.Events...)
	return nil
}

func (h *holdTransform) Run(ctx context.Context, _ component.Emitter) {
	h.mu.Lock()
	h.runs++
	h.mu.Unlock()
	<-ctx.Done()
}

func (h *holdTransform) Flush(ctx context.Context, out component.Emitter) error {
	h.mu.Lock()
	evs, acks := h.evs, h.acks
	h.evs, h.acks = nil, nil
	h.mu.Unlock()
	if len(acks) == 0 {
		return nil
	}
	b := &event.Batch{Events: evs, Ack: event.JoinAcks(acks)}
	var err error
	if err = ctx.Err(); err != nil {
		b.Ack.Retain(1)
		b.Ack.Release(event.Failed)
	} else {
		err = out.Emit(ctx, b)
	}
	b.Ack.Release(event.Delivered)
	return err
}

var holds = struct {
	mu sync.Mutex
	m  map[string]*holdTransform
}{m: map[string]*holdTransform{}}

func init() {
	component.Register(component.Registration{
		Kind: component.KindTransform, Type: "topo_hold",
		NewConfig: func() component.Config { return &dropTransformConfig{} },
		BuildTransform: func(ctx component.Context, _ component.Config) (component.Transform, error) {
			h := &holdTransform{}
			holds.mu.Lock()
			holds.m[ctx.ID] = h
			holds.mu.Unlock()
			return h, nil
		},
	})
}

func TestHeldEventsAreFlushedOnStopBeforeSinksDrain(t *testing.T) {
	topo := New(Options{})
	if err := topo.Start(load(t, `
source "topo_feed" "hold_src" {}
transform "topo_hold" "hold_tr" { inputs = ["hold_src"] }
sink "topo_gate" "hold_out" { inputs = ["hold_tr"] }
`)); err != nil {
		t.Fatal(err)
	}
	src, out := w.source("hold_src"), w.sink("hold_out")
	close(out.gate)
	src.feed <- 2
	src.feed <- 3
	waitFor(t, "both batches emitted", func() bool { return src.emitted.Load() == 2 })
	if ok, failed := src.ackResults(); ok+failed != 0 {
		t.Fatal("a batch was acknowledged while the transform held its events")
	}
	holds.mu.Lock()
	h := holds.m["hold_tr"]
	holds.mu.Unlock()
	waitFor(t, "the timed flush loop", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.runs == 1 })
	topo.Stop()
	if out.count() != 5 {
		t.Fatalf("sink got %d events after stop, want the 5 held", out.count())
	}
	if ok, failed := src.ackResults(); ok != 2 || failed != 0 {
		t.Fatalf("acks after stop: ok=%d failed=%d, want both delivered", ok, failed)
	}
}

func TestRemovedHoldingTransformLeavesItsBatchesUnacknowledged(t *testing.T) {
	topo := New(Options{})
	if err := topo.Start(load(t, `
source "topo_feed" "rm_src" {}
transform "topo_hold" "rm_tr" { inputs = ["rm_src"] }
sink "topo_gate" "rm_out" { inputs = ["rm_tr"] }
`)); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	src := w.source("rm_src")
	close(w.sink("rm_out").gate)
	src.feed <- 2
	waitFor(t, "the batch emitted", func() bool { return src.emitted.Load() == 1 })
	if _, err := topo.Reload(load(t, `
source "topo_feed" "rm_src" {}
sink "topo_gate" "rm_out" { inputs = ["rm_src"] }
`)); err != nil {
		t.Fatal(err)
	}
	if ok, failed := src.ackResults(); ok != 0 || failed != 1 {
		t.Fatalf("acks after removing the transform: ok=%d failed=%d, want one failure (read again, not lost)", ok, failed)
	}
}
