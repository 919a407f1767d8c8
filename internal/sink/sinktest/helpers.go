package sinktest

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/deadletter"
)

// Wait bounds the waits of Runner and WaitFor.
const Wait = 20 * time.Second

// Context returns a component context for a sink of type typ under test:
// id "test", a data directory of its own, a logger that discards, fresh
// metrics and a health reporter. Tests change its fields as they need.
func Context(t testing.TB, typ string) component.Context {
	return component.Context{
		Kind:    component.KindSink,
		Type:    typ,
		ID:      "test",
		DataDir: t.TempDir(),
		Host:    "node-1",
		Logger:  slog.New(slog.DiscardHandler),
		Metrics: metrics.ForTest("sink", typ, "test"),
		Health:  health.NewReporter("sink", typ, "test", nil),
	}
}

// Build builds a sink of cfg with build (a sink package's New), in cctx or,
// without one, in Context(t, typ); an error fails t.
func Build[C, S any](t testing.TB, typ string, build func(component.Context, C) (S, error), cfg C, cctx ...component.Context) S {
	t.Helper()
	c := Context(t, typ)
	if len(cctx) > 0 {
		c = cctx[0]
	}
	s, err := build(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Recorded returns Context(t, typ) with a logger that records into the
// returned Logs and a dead-letter output that keeps what it gets.
func Recorded(t testing.TB, typ string) (component.Context, *Logs, *DeadLetters) {
	logs, dead := &Logs{}, NewDeadLetters()
	c := Context(t, typ)
	c.Logger = logs.Logger()
	c.Outputs = map[string]component.Emitter{deadletter.Output: dead}
	return c, logs, dead
}

// RotateFile replaces the file at path with one holding content, the way
// secret managers rotate a credential (Vault agent, a Kubernetes secret):
// a new file renamed over the old one.
func RotateFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".new", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// WaitFor polls cond until it holds or Wait passes.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", Wait, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// SumDiscarded is the sum of m's component_discarded_events_total over its
// reasons.
func SumDiscarded(t testing.TB, m *metrics.Component) float64 {
	t.Helper()
	g, ok := m.Registerer().(prometheus.Gatherer)
	if !ok {
		t.Fatal("the metrics' registry cannot be read")
	}
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != "drover_component_discarded_events_total" {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if v, ok := m.Labels()[l.GetName()]; ok && v != l.GetValue() {
					continue series
				}
			}
			sum += s.GetCounter().GetValue()
		}
	}
	return sum
}

// Runner runs a sink for a test and feeds it batches.
type Runner struct {
	t      *testing.T
	in     chan *event.Batch
	done   chan error
	acks   chan bool
	cancel context.CancelFunc
}

// Start runs s until the test ends. When it ends, it cancels the sink,
// waits for Run, runs after (closing what the sink talked to, whose
// goroutines would otherwise outlive it), and checks that no goroutine is
// left behind.
func Start(t *testing.T, s component.Sink, after ...func()) *Runner {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{t: t, in: make(chan *event.Batch), done: make(chan error, 1), acks: make(chan bool, 1000), cancel: cancel}
	go func() { r.done <- s.Run(ctx, r.in) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
		for _, f := range after {
			f()
		}
	})
	return r
}

// Send hands the events to the sink as one batch.
func (r *Runner) Send(evs ...event.Event) {
	r.t.Helper()
	b := &event.Batch{Events: evs, Ack: event.NewAck(func(ok bool) { r.acks <- ok })}
	select {
	case r.in <- b:
	case <-time.After(Wait):
		r.t.Fatal("batch not taken")
	}
}

// Offer hands the events to the sink as one batch if it takes them within
// d, and reports whether it did.
func (r *Runner) Offer(d time.Duration, evs ...event.Event) bool {
	b := &event.Batch{Events: evs, Ack: event.NewAck(func(ok bool) { r.acks <- ok })}
	select {
	case r.in <- b:
		return true
	case <-time.After(d):
		return false
	}
}

// Ack waits for the next released batch and returns its ok.
func (r *Runner) Ack() bool {
	r.t.Helper()
	select {
	case ok := <-r.acks:
		return ok
	case <-time.After(Wait):
		r.t.Fatal("no ack")
		return false
	}
}

// Acked returns the ok of a batch released already, if any.
func (r *Runner) Acked() (ok, released bool) {
	select {
	case ok := <-r.acks:
		return ok, true
	default:
		return false, false
	}
}

// Close closes the input and waits for Run to return nil.
func (r *Runner) Close() {
	r.t.Helper()
	close(r.in)
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Fatal(err)
		}
		r.done <- nil
	case <-time.After(Wait):
		r.t.Fatal("Run did not return")
	}
}

// Cancel ends the sink's context.
func (r *Runner) Cancel() { r.cancel() }

// Logs keeps the log records of a test's logger. It is a slog.Handler.
type Logs struct {
	mu   sync.Mutex
	recs []slog.Record
}

// Logger returns a logger that records into l.
func (l *Logs) Logger() *slog.Logger { return slog.New(l) }

// Enabled implements slog.Handler: every level is recorded.
func (l *Logs) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (l *Logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	return nil
}

// WithAttrs implements slog.Handler; the attributes are not kept.
func (l *Logs) WithAttrs([]slog.Attr) slog.Handler { return l }

// WithGroup implements slog.Handler; the group is not kept.
func (l *Logs) WithGroup(string) slog.Handler { return l }

// Line is one log record: its level, message and attributes as text.
type Line struct {
	Level   slog.Level
	Message string
	Attrs   map[string]string
}

// Lines returns the records at level or above.
func (l *Logs) Lines(level slog.Level) []Line {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Line
	for _, r := range l.recs {
		if r.Level < level {
			continue
		}
		ln := Line{Level: r.Level, Message: r.Message, Attrs: map[string]string{}}
		r.Attrs(func(a slog.Attr) bool {
			ln.Attrs[a.Key] = a.Value.Resolve().String()
			return true
		})
		out = append(out, ln)
	}
	return out
}

// Messages returns the messages of the records at level or above.
func (l *Logs) Messages(level slog.Level) []string {
	var out []string
	for _, ln := range l.Lines(level) {
		out = append(out, ln.Message)
	}
	return out
}

// Attr returns the value of attribute key of the first record whose
// message contains msg.
func (l *Logs) Attr(msg, key string) (string, bool) {
	for _, ln := range l.Lines(slog.LevelDebug) {
		if strings.Contains(ln.Message, msg) {
			v, ok := ln.Attrs[key]
			return v, ok
		}
	}
	return "", false
}

// Letter is one dead letter as the dead-letter output got it.
type Letter struct {
	// Event is the dead letter: the refused event with its dead_letter
	// field.
	Event   event.Event
	Message string
	Sink    string
	Reason  string
	Error   string
	Status  int64
	Time    time.Time
}

// DeadLetters is a dead-letter output for tests: a component.Emitter that
// keeps what it gets. It delivers each batch at once, or, after Hold,
// only at Release.
type DeadLetters struct {
	mu      sync.Mutex
	letters []Letter
	held    []*event.Batch
	hold    bool
}

// NewDeadLetters returns a dead-letter output that delivers at once.
func NewDeadLetters() *DeadLetters { return &DeadLetters{} }

// Emit implements component.Emitter.
func (d *DeadLetters) Emit(_ context.Context, b *event.Batch) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range b.Events {
		l := Letter{Event: e, Message: string(e.Message)}
		if v, ok := e.Fields.Lookup(deadletter.Field); ok {
			f := v.Object()
			l.Sink = str(f, "sink")
			l.Reason = str(f, "reason")
			l.Error = str(f, "error")
			if s, ok := f.Lookup("status"); ok {
				l.Status = s.Int()
			}
			if tv, ok := f.Lookup("time"); ok {
				l.Time = tv.Time()
			}
		}
		l.Event.Message = append([]byte(nil), e.Message...)
		d.letters = append(d.letters, l)
	}
	if d.hold {
		b.Ack.Retain(1)
		d.held = append(d.held, b)
	}
	return nil
}

func str(f *event.Fields, key string) string {
	v, _ := f.Lookup(key)
	return v.Str()
}

// Hold makes the output keep the batches it gets undelivered until
// Release.
func (d *DeadLetters) Hold() {
	d.mu.Lock()
	d.hold = true
	d.mu.Unlock()
}

// Release delivers the batches held and stops holding.
func (d *DeadLetters) Release() {
	d.mu.Lock()
	held := d.held
	d.held, d.hold = nil, false
	d.mu.Unlock()
	for _, b := range held {
		b.Ack.Release(event.Delivered)
	}
}

// Letters returns the dead letters got so far.
func (d *DeadLetters) Letters() []Letter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Letter(nil), d.letters...)
}
