package topology

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
)

// TapBuffer is how many encoded events a tap holds for its viewer; events
// sampled while it is full are lost (counted), never waited for.
const TapBuffer = 256

// Tap is a viewer of the events that leave one output of a component
// (drover tap). The pipeline never waits for it: the producing goroutine
// encodes each sampled event as JSON and offers it without blocking; an
// event the viewer has no room for is lost and counted in
// drover_tap_discarded_events_total{reason="viewer_too_slow"}.
type Tap struct {
	output string
	sample uint64
	ch     chan []byte
	seen   atomic.Uint64
	lost   atomic.Uint64
	lostM  prometheus.Counter
	close  func()
	once   sync.Once
}

// Events are the sampled events, one JSON object each, without a newline.
func (t *Tap) Events() <-chan []byte { return t.ch }

// Lost is the number of sampled events the viewer had no room for.
func (t *Tap) Lost() uint64 { return t.lost.Load() }

// Close detaches the tap. Events stops receiving (it is not closed).
func (t *Tap) Close() { t.once.Do(t.close) }

// offer encodes the sampled events of b and hands them over without
// blocking.
func (t *Tap) offer(b *event.Batch) {
	for i := range b.Events {
		if n := t.seen.Add(1); (n-1)%t.sample != 0 {
			continue
		}
		buf := codec.AppendJSON(make([]byte, 0, 256), &b.Events[i])
		select {
		case t.ch <- buf:
		default:
			t.lost.Add(1)
			t.lostM.Inc()
		}
	}
}

// tapSet is the immutable list of a router's taps.
type tapSet struct{ taps []*Tap }

func (s *tapSet) offer(b *event.Batch) {
	for _, t := range s.taps {
		t.offer(b)
	}
}

var tapDiscards = struct {
	once sync.Once
	vec  *prometheus.CounterVec
}{}

// Tap attaches a viewer to output: a source's or transform's id, or
// "<id>.<name>" for a named output. Every sample-th event (1: all) is
// encoded and offered to it.
func (t *Topology) Tap(output string, sample int) (*Tap, error) {
	if sample < 1 {
		return nil, errors.New("sample must be at least 1")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.routers[output]
	if !ok || t.cfg == nil {
		return nil, t.noOutput(output)
	}
	tapDiscards.once.Do(func() {
		tapDiscards.vec = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drover", Name: "tap_discarded_events_total",
			Help: "Sampled events a tap viewer (drover tap) had no room for, by output and reason; the pipeline never waits for a viewer.",
		}, []string{"output", "reason"})
	})
	if err := t.opts.Metrics.Registerer().Register(tapDiscards.vec); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, fmt.Errorf("tap: %w", err)
		}
	}
	tp := &Tap{output: output, sample: uint64(sample), ch: make(chan []byte, TapBuffer),
		lostM: tapDiscards.vec.WithLabelValues(output, "viewer_too_slow")}
	tp.close = func() {
		t.tapMu.Lock()
		defer t.tapMu.Unlock()
		cur := r.taps.Load()
		if cur == nil {
			return
		}
		rest := slices.DeleteFunc(slices.Clone(cur.taps), func(x *Tap) bool { return x == tp })
		if len(rest) == 0 {
			r.taps.Store(nil)
		} else {
			r.taps.Store(&tapSet{taps: rest})
		}
	}
	t.tapMu.Lock()
	var taps []*Tap
	if cur := r.taps.Load(); cur != nil {
		taps = slices.Clone(cur.taps)
	}
	r.taps.Store(&tapSet{taps: append(taps, tp)})
	t.tapMu.Unlock()
	return tp, nil
}

// noOutput explains why output cannot be tapped.
func (t *Topology) noOutput(output string) error {
	owner := config.OutputOwner(output)
	c := t.cfg.Component(owner)
	if c == nil {
		return fmt.Errorf("no component %q; tap a source's or transform's id, or <id>.<output>", owner)
	}
	if c.Kind == "sink" && owner == output {
		return fmt.Errorf("%q is a sink, which has no default output; tap one of its inputs: %v", owner, c.Inputs)
	}
	return fmt.Errorf("%s %q has no output %q; its named outputs: %v", c.Kind, owner, output, c.Outputs)
}
