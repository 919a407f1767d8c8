package elasticsearch

import (
	"context"
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

// testConfig is a fast configuration against endpoint: one request in
// flight, small batches, a short batch timeout and millisecond backoff.
func testConfig(endpoint string) *Config {
	c := NewConfig()
	c.Endpoint = endpoint
	c.Batch = batch.Config{MaxEvents: 10, MaxBytes: 1 << 20, Timeout: 2 * time.Millisecond}
	c.Request = driver.RequestConfig{Concurrency: 1, Timeout: 5 * time.Second,
		RetryInitialBackoff: time.Millisecond, RetryMaxBackoff: 5 * time.Millisecond}
	return c
}

func build(t testing.TB, cfg *Config, m *metrics.Component, log *slog.Logger) *Sink {
	t.Helper()
	s, err := New(componentContext(t, m, log), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func componentContext(t testing.TB, m *metrics.Component, log *slog.Logger) component.Context {
	if m == nil {
		m = metrics.ForTest("sink", Type, t.Name())
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return component.Context{Kind: component.KindSink, Type: Type, ID: "test", DataDir: t.TempDir(), Logger: log, Metrics: m}
}

// nomadMeta is the metadata of a Nomad task stream.
func nomadMeta(namespace, job string) *event.Meta {
	return event.NewMeta("nomad_logs", event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue("nomad_logs")},
		event.Field{Key: "host", Value: event.StringValue("node-1")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "namespace", Value: event.StringValue(namespace)},
			event.Field{Key: "job_name", Value: event.StringValue(job)},
		))},
	))
}

// ev is an event of meta with a message.
func ev(meta *event.Meta, msg string) event.Event {
	return event.Event{Timestamp: time.Unix(1700000000, 123456789), Message: []byte(msg), Meta: meta}
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

// at returns the messages of records at level or above and their attributes
// as "key=value".
func (l *logRecorder) at(level slog.Level) (msgs, attrs []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, rec := range l.recs {
		if rec.Level < level {
			continue
		}
		msgs = append(msgs, rec.Message)
		rec.Attrs(func(a slog.Attr) bool {
			attrs = append(attrs, a.Key+"="+a.Value.String())
			return true
		})
	}
	return msgs, attrs
}
