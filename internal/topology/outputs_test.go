package topology

import (
	"context"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

// A refusing sink passes every batch it takes to its "dead" output, then
// releases it: what a sink does with events its destination refused.
type refusingSink struct {
	out component.Emitter
	mu  sync.Mutex
	n   int
}

func (s *refusingSink) Run(ctx context.Context, in <-chan *event.Batch) error {
	for b := range in {
		b.Ack.Retain(1)
		dead := &event.Batch{Events: b.Events, Ack: b.Ack}
		err := s.out.Emit(ctx, dead)
		dead.Ack.Release(event.Delivered)
		if err != nil {
			b.Ack.Release(event.Failed)
			continue
		}
		s.mu.Lock()
		s.n += len(b.Events)
		s.mu.Unlock()
		b.Ack.Release(event.Rejected)
	}
	return nil
}

var refusing = struct {
	mu    sync.Mutex
	sinks map[string]*refusingSink
}{sinks: map[string]*refusingSink{}}

func init() {
	component.Register(component.Registration{
		Kind: component.KindSink, Type: "topo_refusing",
		NewConfig: func() component.Config { return &gateSinkConfig{} },
		Outputs:   func(component.Config) []string { return []string{"dead"} },
		BuildSink: func(ctx component.Context, _ component.Config) (component.Sink, error) {
			s := &refusingSink{out: ctx.Outputs["dead"]}
			refusing.mu.Lock()
			refusing.sinks[ctx.ID] = s
			refusing.mu.Unlock()
			return s, nil
		},
	})
}

func TestSinkOutputFeedsAnotherSink(t *testing.T) {
	reg := metrics.New()
	topo := New(Options{Metrics: reg})
	if err := topo.Start(load(t, `
source "topo_feed" "out_src" {}
sink "topo_refusing" "out_es" { inputs = ["out_src"] }
sink "topo_gate" "out_dlq" { inputs = ["out_es.dead"] }
`)); err != nil {
		t.Fatal(err)
	}
	src, dlq := w.source("out_src"), w.sink("out_dlq")
	src.feed <- 3
	queued := reg.Component("sink", "topo_gate", "out_dlq").BufferEvents
	waitFor(t, "the dead letters in the dead-letter sink's queue", func() bool { return testutil.ToFloat64(queued) == 3 })
	if ok, failed := src.ackResults(); ok+failed != 0 {
		t.Fatal("the batch was acknowledged before its dead letters were delivered")
	}
	dlq.gate <- struct{}{}
	waitFor(t, "the acknowledgement", func() bool { ok, _ := src.ackResults(); return ok == 1 })
	if dlq.count() != 3 {
		t.Fatalf("dead-letter sink got %d events, want 3", dlq.count())
	}

	// Stopping with a batch on its way to the dead-letter sink: the
	// refusing sink stops first, its consumer after it, and the batch is
	// delivered, not abandoned.
	src.feed <- 2
	close(dlq.gate)
	topo.Stop()
	if ok, failed := src.ackResults(); ok != 2 || failed != 0 {
		t.Fatalf("acks after stop: ok=%d failed=%d", ok, failed)
	}
	if dlq.count() != 5 {
		t.Fatalf("dead-letter sink got %d events, want 5", dlq.count())
	}
}

func TestOutputWithoutConsumerGoesNowhere(t *testing.T) {
	topo := New(Options{})
	if err := topo.Start(load(t, `
source "topo_feed" "nc_src" {}
sink "topo_refusing" "nc_es" { inputs = ["nc_src"] }
`)); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	src := w.source("nc_src")
	src.feed <- 4
	waitFor(t, "the acknowledgement", func() bool { ok, _ := src.ackResults(); return ok == 1 })
	refusing.mu.Lock()
	n := refusing.sinks["nc_es"].n
	refusing.mu.Unlock()
	if n != 4 {
		t.Fatalf("refusing sink handled %d events", n)
	}
}
