package topology

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A test source emits the batches the test feeds it and records how each
// batch was acknowledged.
type feedSourceConfig struct {
	Tag string `hcl:"tag"`
}

func (*feedSourceConfig) Validate() error { return nil }

type feedSource struct {
	id      string
	feed    chan int // number of events of the next batch
	builds  *atomic.Int32
	mu      sync.Mutex
	acks    []bool
	closed  atomic.Bool
	emitted atomic.Int32
	blocked atomic.Bool
}

func (s *feedSource) Run(ctx context.Context, out component.Emitter) error {
	meta := event.NewMeta(s.id, event.NewFields(event.Field{Key: "source_type", Value: event.StringValue("feed")}))
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-s.feed:
			evs := make([]event.Event, n)
			for i := range evs {
				evs[i] = event.Event{Message: []byte(fmt.Sprintf("%s-%d", s.id, i)), Meta: meta}
			}
			b := &event.Batch{Events: evs}
			b.Ack = event.NewAck(func(ok bool) {
				s.mu.Lock()
				s.acks = append(s.acks, ok)
				s.mu.Unlock()
			})
			s.blocked.Store(true)
			err := out.Emit(ctx, b)
			s.blocked.Store(false)
			b.Ack.Release(event.Delivered)
			s.emitted.Add(1)
			if err != nil {
				return nil
			}
		}
	}
}

func (s *feedSource) Close(context.Context) error { s.closed.Store(true); return nil }

func (s *feedSource) ackResults() (ok, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.acks {
		if a {
			ok++
		} else {
			failed++
		}
	}
	return
}

// A test sink takes batches and releases them as the test says.
type gateSinkConfig struct {
	Tag string `hcl:"tag"`
}

func (*gateSinkConfig) Validate() error { return nil }

type gateSink struct {
	id     string
	gate   chan struct{} // one token per batch to release; closed = free flow
	mu     sync.Mutex
	events int
	got    []*event.Batch
}

func (s *gateSink) Run(ctx context.Context, in <-chan *event.Batch) error {
	for b := range in {
		select {
		case <-s.gate:
		case <-ctx.Done():
			b.Ack.Release(event.Failed)
			for b := range in {
				b.Ack.Release(event.Failed)
			}
			return nil
		}
		s.mu.Lock()
		s.events += len(b.Events)
		s.got = append(s.got, b)
		s.mu.Unlock()
		b.Ack.Release(event.Delivered)
	}
	return nil
}

func (s *gateSink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return s.events }

type dropTransformConfig struct {
	Every int `hcl:"every"`
}

func (*dropTransformConfig) Validate() error { return nil }

type dropTransform struct{ every int }

func (d dropTransform) Process(ctx context.Context, b *event.Batch, out component.Emitter) error {
	evs := make([]event.Event, 0, len(b.Events))
	for i, e := range b.Events {
		if (i+1)%d.every != 0 {
			evs = append(evs, e)
		}
	}
	if len(evs) == 0 {
		return nil
	}
	return out.Emit(ctx, &event.Batch{Events: evs, Ack: b.Ack})
}

// world holds the instances the registry built, by id.
type world struct {
	mu      sync.Mutex
	sources map[string]*feedSource
	sinks   map[string]*gateSink
	builds  atomic.Int32
}

var w = &world{sources: map[string]*feedSource{}, sinks: map[string]*gateSink{}}

func (w *world) source(id string) *feedSource { w.mu.Lock(); defer w.mu.Unlock(); return w.sources[id] }
func (w *world) sink(id string) *gateSink     { w.mu.Lock(); defer w.mu.Unlock(); return w.sinks[id] }

func init() {
	component.Register(component.Registration{
		Kind: component.KindSource, Type: "topo_feed",
		NewConfig: func() component.Config { return &feedSourceConfig{} },
		BuildSource: func(ctx component.Context, _ component.Config) (component.Source, error) {
			s := &feedSource{id: ctx.ID, feed: make(chan int)}
			w.mu.Lock()
			w.sources[ctx.ID] = s
			w.mu.Unlock()
			w.builds.Add(1)
			return s, nil
		},
	})
	component.Register(component.Registration{
		Kind: component.KindSink, Type: "topo_gate",
		NewConfig: func() component.Config { return &gateSinkConfig{} },
		BuildSink: func(ctx component.Context, _ component.Config) (component.Sink, error) {
			s := &gateSink{id: ctx.ID, gate: make(chan struct{})}
			w.mu.Lock()
			w.sinks[ctx.ID] = s
			w.mu.Unlock()
			return s, nil
		},
	})
	component.Register(component.Registration{
		Kind: component.KindTransform, Type: "topo_drop",
		NewConfig: func() component.Config { return &dropTransformConfig{Every: 2} },
		BuildTransform: func(_ component.Context, c component.Config) (component.Transform, error) {
			return dropTransform{every: c.(*dropTransformConfig).Every}, nil
		},
	})
}

func load(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Load("test.hcl", []byte("data_dir = \""+t.TempDir()+"\"\nshutdown_timeout = \"2s\"\n"+src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestFanOutAcknowledgesWhenEverySinkHasTheBatch(t *testing.T) {
	cfg := load(t, `
source "topo_feed" "fan_src" {}
sink "topo_gate" "fan_a" { inputs = ["fan_src"] }
sink "topo_gate" "fan_b" { inputs = ["fan_src"] }
`)
	topo := New(Options{})
	if err := topo.Start(cfg); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	src, a, b := w.source("fan_src"), w.sink("fan_a"), w.sink("fan_b")
	src.feed <- 3
	a.gate <- struct{}{}
	waitFor(t, "sink a to take the batch", func() bool { return a.count() == 3 })
	if ok, failed := src.ackResults(); ok+failed != 0 {
		t.Fatalf("batch acknowledged before sink b had it (ok=%d failed=%d)", ok, failed)
	}
	b.gate <- struct{}{}
	waitFor(t, "acknowledgement", func() bool { ok, _ := src.ackResults(); return ok == 1 })
	if a.got[0].Events[0].Meta != b.got[0].Events[0].Meta {
		t.Error("sinks received copies of the metadata instead of the shared value")
	}
}

func TestFullSinkSlowsTheSourceAndBoundsMemory(t *testing.T) {
	cfg := load(t, `
source "topo_feed" "bp_src" {}
sink "topo_gate" "bp_sink" {
  inputs = ["bp_src"]
  buffer { max_events = 10 }
}
`)
	reg := metrics.New()
	topo := New(Options{Metrics: reg})
	if err := topo.Start(cfg); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	src, sink := w.source("bp_src"), w.sink("bp_sink")
	gauge := reg.Component("sink", "topo_gate", "bp_sink").BufferEvents
	// Two batches of 4 fit; the third would exceed 10 events.
	src.feed <- 4
	src.feed <- 4
	go func() { src.feed <- 4 }()
	waitFor(t, "the third emit to block", func() bool { return src.emitted.Load() == 2 && src.blocked.Load() })
	if got := testutil.ToFloat64(gauge); got != 8 {
		t.Fatalf("buffer_events = %v, want 8", got)
	}
	// Releasing one batch makes room for the blocked one.
	sink.gate <- struct{}{}
	waitFor(t, "the blocked emit to pass", func() bool { return src.emitted.Load() == 3 })
	if got := testutil.ToFloat64(gauge); got > 10 {
		t.Fatalf("buffer_events = %v exceeds capacity 10", got)
	}
	close(sink.gate)
	waitFor(t, "all delivered", func() bool { return sink.count() == 12 })
	waitFor(t, "buffer to empty", func() bool { return testutil.ToFloat64(gauge) == 0 })
}

func TestOversizedBatchIsAdmittedAlone(t *testing.T) {
	cfg := load(t, `
source "topo_feed" "big_src" {}
sink "topo_gate" "big_sink" {
  inputs = ["big_src"]
  buffer { max_events = 2 }
}
`)
	topo := New(Options{})
	if err := topo.Start(cfg); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	src, sink := w.source("big_src"), w.sink("big_sink")
	close(sink.gate)
	src.feed <- 50
	waitFor(t, "the batch of 50", func() bool { return sink.count() == 50 })
}

func TestTransformRunsInlineAndKeepsTheAck(t *testing.T) {
	cfg := load(t, `
source "topo_feed" "tr_src" {}
transform "topo_drop" "tr_drop" { inputs = ["tr_src"] }
sink "topo_gate" "tr_sink" { inputs = ["tr_drop"] }
`)
	topo := New(Options{})
	if err := topo.Start(cfg); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	src, sink := w.source("tr_src"), w.sink("tr_sink")
	close(sink.gate)
	src.feed <- 10
	waitFor(t, "acknowledgement", func() bool { ok, _ := src.ackResults(); return ok == 1 })
	if got := sink.count(); got != 5 {
		t.Fatalf("sink got %d events, want 5 (every second dropped)", got)
	}
	// A batch the transform drops entirely is acknowledged too.
	src.feed <- 1
	waitFor(t, "acknowledgement of a dropped batch", func() bool { ok, _ := src.ackResults(); return ok == 2 })
}

func TestStopDrainsSinksThenClosesSources(t *testing.T) {
	cfg := load(t, `
source "topo_feed" "st_src" {}
sink "topo_gate" "st_sink" { inputs = ["st_src"] }
`)
	topo := New(Options{})
	if err := topo.Start(cfg); err != nil {
		t.Fatal(err)
	}
	src, sink := w.source("st_src"), w.sink("st_sink")
	src.feed <- 2
	src.feed <- 2
	waitFor(t, "two batches queued", func() bool { return src.emitted.Load() == 2 })
	stopped := make(chan struct{})
	go func() { topo.Stop(); close(stopped) }()
	// The sink still delivers what it holds.
	sink.gate <- struct{}{}
	sink.gate <- struct{}{}
	<-stopped
	if ok, failed := src.ackResults(); ok != 2 || failed != 0 {
		t.Fatalf("acks ok=%d failed=%d, want 2 delivered", ok, failed)
	}
	if !src.closed.Load() {
		t.Fatal("source was not closed")
	}
	if topo.Ready() {
		t.Fatal("stopped topology reports ready")
	}
}

func TestStopTimeoutFailsUndeliveredBatches(t *testing.T) {
	cfg := load(t, `
source "topo_feed" "to_src" {}
sink "topo_gate" "to_sink" { inputs = ["to_src"] }
`)
	topo := New(Options{})
	if err := topo.Start(cfg); err != nil {
		t.Fatal(err)
	}
	src := w.source("to_src")
	src.feed <- 2
	waitFor(t, "batch queued", func() bool { return src.emitted.Load() == 1 })
	topo.Stop() // the gate never opens; shutdown_timeout is 2s
	if ok, failed := src.ackResults(); ok != 0 || failed != 1 {
		t.Fatalf("acks ok=%d failed=%d, want the batch failed", ok, failed)
	}
}

func TestReloadKeepsUnchangedAndReplacesChanged(t *testing.T) {
	base := `
source "topo_feed" "rl_src" {}
sink "topo_gate" "rl_keep" { inputs = ["rl_src"] }
`
	topo := New(Options{})
	if err := topo.Start(load(t, base+`sink "topo_gate" "rl_swap" {
  inputs = ["rl_src"]
  tag = "v1"
}`)); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	src, keep, swapOld := w.source("rl_src"), w.sink("rl_keep"), w.sink("rl_swap")
	close(keep.gate)
	// One batch sits in the old sink when the reload comes.
	src.feed <- 1
	waitFor(t, "batch taken", func() bool { return keep.count() == 1 })

	ch, err := topo.Reload(load(t, base+`sink "topo_gate" "rl_swap" {
  inputs = ["rl_src"]
  tag = "v2"
}
sink "topo_gate" "rl_new" { inputs = ["rl_src"] }`))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ch.Kept, ch.Changed, ch.Added, ch.Removed) != "[rl_src rl_keep] [rl_swap] [rl_new] []" {
		t.Fatalf("changes: %+v", ch)
	}
	if w.source("rl_src") != src {
		t.Fatal("unchanged source was rebuilt")
	}
	swapNew, added := w.sink("rl_swap"), w.sink("rl_new")
	if swapNew == swapOld {
		t.Fatal("changed sink was not rebuilt")
	}
	close(swapNew.gate)
	close(added.gate)
	// The old instance still delivers what it held.
	close(swapOld.gate)
	waitFor(t, "first batch acknowledged", func() bool { ok, _ := src.ackResults(); return ok == 1 })
	src.feed <- 1
	waitFor(t, "second batch acknowledged", func() bool { ok, _ := src.ackResults(); return ok == 2 })
	if swapOld.count() != 1 || swapNew.count() != 1 || added.count() != 1 || keep.count() != 2 {
		t.Fatalf("counts old=%d new=%d added=%d keep=%d", swapOld.count(), swapNew.count(), added.count(), keep.count())
	}

	// Removing the sink and source stops them.
	ch, err = topo.Reload(load(t, `
source "topo_feed" "rl_other" {}
sink "topo_gate" "rl_keep" { inputs = ["rl_other"] }
`))
	if err != nil {
		t.Fatal(err)
	}
	if !src.closed.Load() {
		t.Fatal("removed source was not closed")
	}
	if len(ch.Removed) != 3 {
		t.Fatalf("removed: %v", ch.Removed)
	}
}

func TestReloadMovesABlockedEmitterToTheNewSink(t *testing.T) {
	mk := func(tag string) string {
		return `
source "topo_feed" "mv_src" {}
sink "topo_gate" "mv_sink" {
  inputs = ["mv_src"]
  tag = "` + tag + `"
  buffer { max_events = 1 }
}`
	}
	topo := New(Options{})
	if err := topo.Start(load(t, mk("a"))); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	src, old := w.source("mv_src"), w.sink("mv_sink")
	src.feed <- 1
	go func() { src.feed <- 1 }()
	waitFor(t, "second emit to block on the full queue", func() bool { return src.emitted.Load() == 1 && src.blocked.Load() })
	// The old sink's destination is "down" (gate closed never); reloading
	// must not hang on it: the blocked batch goes to the new instance.
	reloaded := make(chan error, 1)
	go func() { _, err := topo.Reload(load(t, mk("b"))); reloaded <- err }()
	waitFor(t, "new sink instance", func() bool { return w.sink("mv_sink") != old })
	nw := w.sink("mv_sink")
	close(nw.gate)
	waitFor(t, "blocked batch delivered by the new sink", func() bool { return nw.count() == 1 })
	close(old.gate)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both acknowledged", func() bool { ok, _ := src.ackResults(); return ok == 2 })
}

func TestEmitCancelledMarksBatchFailed(t *testing.T) {
	q := newQueue(1, metrics.ForTest("sink", "x", "x"))
	r := newRouter()
	r.set([]target{&sinkTarget{sinkID: "x", q: q}})
	var got []bool
	mk := func() *event.Batch {
		b := &event.Batch{Events: make([]event.Event, 1)}
		b.Ack = event.NewAck(func(ok bool) { got = append(got, ok) })
		return b
	}
	b1 := mk()
	if err := r.Emit(context.Background(), b1); err != nil {
		t.Fatal(err)
	}
	b1.Ack.Release(event.Delivered)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	b2 := mk()
	if err := r.Emit(ctx, b2); err == nil {
		t.Fatal("Emit into a full queue returned without error after ctx ended")
	}
	b2.Ack.Release(event.Delivered)
	if len(got) != 1 || got[0] {
		t.Fatalf("ack results %v, want [false] for the cancelled batch", got)
	}
	(<-q.ch).Ack.Release(event.Delivered)
	if len(got) != 2 || !got[1] {
		t.Fatalf("ack results %v, want the first batch delivered", got)
	}
	q.retire()
}
