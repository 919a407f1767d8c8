package loki

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/driver"
)

// testConfig is a fast configuration against endpoint: small batches, a
// short batch timeout and millisecond backoff.
func testConfig(endpoint string) *Config {
	c := NewConfig()
	c.Endpoint = endpoint
	c.Labels = map[string]string{"job": "{{ nomad.job_name }}"}
	c.Batch = batch.Config{MaxEvents: 10, MaxBytes: 1 << 20, Timeout: 2 * time.Millisecond}
	c.Request = driver.RequestConfig{Concurrency: 1, Timeout: 5 * time.Second,
		RetryInitialBackoff: time.Millisecond, RetryMaxBackoff: 5 * time.Millisecond}
	return c
}

func build(t testing.TB, cfg *Config, m *metrics.Component, log *slog.Logger) *Sink {
	t.Helper()
	if m == nil {
		m = metrics.ForTest("sink", Type, t.Name())
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := New(component.Context{Kind: component.KindSink, Type: Type, ID: "test", Logger: log, Metrics: m}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// nomadMeta is the metadata of a Nomad task stream.
func nomadMeta(namespace, job, alloc string) *event.Meta {
	return event.NewMeta("nomad_logs", event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue("nomad_logs")},
		event.Field{Key: "host", Value: event.StringValue("node-1")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "namespace", Value: event.StringValue(namespace)},
			event.Field{Key: "job_name", Value: event.StringValue(job)},
			event.Field{Key: "alloc_id", Value: event.StringValue(alloc)},
		))},
	))
}

// runner runs a sink and feeds it batches.
type runner struct {
	t    *testing.T
	in   chan *event.Batch
	done chan error
	acks chan bool
}

func start(t *testing.T, s *Sink) *runner {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{t: t, in: make(chan *event.Batch), done: make(chan error, 1), acks: make(chan bool, 100)}
	go func() { r.done <- s.Run(ctx, r.in) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// send hands the events to the sink as one batch.
func (r *runner) send(evs ...event.Event) {
	r.t.Helper()
	b := &event.Batch{Events: evs, Ack: event.NewAck(func(ok bool) { r.acks <- ok })}
	select {
	case r.in <- b:
	case <-time.After(10 * time.Second):
		r.t.Fatal("batch not taken")
	}
}

// ack waits for the next acknowledgement.
func (r *runner) ack() bool {
	r.t.Helper()
	select {
	case ok := <-r.acks:
		return ok
	case <-time.After(10 * time.Second):
		r.t.Fatal("no ack")
		return false
	}
}

// close closes the input and waits for Run.
func (r *runner) close() {
	r.t.Helper()
	close(r.in)
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Fatal(err)
		}
		r.done <- nil
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return")
	}
}

// ev is an event of meta with a message and a time.
func ev(meta *event.Meta, msg string, ts time.Time) event.Event {
	return event.Event{Timestamp: ts, Message: []byte(msg), Meta: meta}
}

// message extracts "message" from a JSON line.
func message(t testing.TB, line string) string {
	t.Helper()
	var v struct{ Message *string }
	if err := json.Unmarshal([]byte(line), &v); err != nil || v.Message == nil {
		t.Errorf("line %q is not a JSON event: %v", line, err)
		return ""
	}
	return *v.Message
}

// logRecorder keeps log records.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// at returns the messages and "error" attributes of records at level or
// above.
func (l *logRecorder) at(level slog.Level) (msgs, errs []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, rec := range l.recs {
		if rec.Level < level {
			continue
		}
		msgs = append(msgs, rec.Message)
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" || a.Key == "label" {
				errs = append(errs, a.Value.String())
			}
			return true
		})
	}
	return msgs, errs
}

func componentContext(t testing.TB) component.Context {
	return component.Context{Kind: component.KindSink, Type: Type, ID: "test",
		Logger: slog.New(slog.DiscardHandler), Metrics: metrics.ForTest("sink", Type, t.Name())}
}
