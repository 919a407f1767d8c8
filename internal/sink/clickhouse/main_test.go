package clickhouse

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/clickhouse/clickhousetest"
	"github.com/drover-dev/drover/internal/sink/driver"
)

// TestMain starts one ClickHouse server for the package's tests that need
// it (on first use) and stops it at the end.
func TestMain(m *testing.M) { os.Exit(clickhousetest.Main(m)) }

// testConfig is a configuration for tests: small batches sent within
// milliseconds, one request in flight, retries within milliseconds.
func testConfig(endpoint, database, table string) *Config {
	c := NewConfig()
	c.Endpoint, c.Database, c.Table = endpoint, database, table
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

// runner runs a sink outside the conformance suite.
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

// send hands one batch of events to the sink.
func (r *runner) send(events ...event.Event) {
	r.t.Helper()
	b := &event.Batch{Events: events, Ack: event.NewAck(func(ok bool) { r.acks <- ok })}
	select {
	case r.in <- b:
	case <-time.After(10 * time.Second):
		r.t.Fatal("batch not taken")
	}
}

// ack waits for the next released batch and returns its ok.
func (r *runner) ack() bool {
	r.t.Helper()
	select {
	case ok := <-r.acks:
		return ok
	case <-time.After(20 * time.Second):
		r.t.Fatal("no ack")
		return false
	}
}

// close closes the input and waits for Run to return.
func (r *runner) close() {
	r.t.Helper()
	close(r.in)
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Fatal(err)
		}
		r.done <- nil
	case <-time.After(20 * time.Second):
		r.t.Fatal("Run did not return")
	}
}

// nomadMeta is the metadata of one Nomad task stream, as discovery builds
// it.
func nomadMeta(namespace, job, allocID string) *event.Meta {
	nomad := []event.Field{
		{Key: "namespace", Value: event.StringValue(namespace)},
		{Key: "job_name", Value: event.StringValue(job)},
		{Key: "task_name", Value: event.StringValue("server")},
		{Key: "alloc_id", Value: event.StringValue(allocID)},
		{Key: "alloc_index", Value: event.IntValue(0)},
		{Key: "meta", Value: event.ObjectValue(event.NewFields(event.Field{Key: "team", Value: event.StringValue("core")}))},
	}
	if namespace == "" {
		nomad = nomad[1:]
	}
	return event.NewMeta("nomad", event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue("nomad_logs")},
		event.Field{Key: "host", Value: event.StringValue("node-1")},
		event.Field{Key: "stream", Value: event.StringValue("stdout")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(nomad...))},
	))
}

// events returns one event per message, with the given metadata.
func events(meta *event.Meta, msgs ...string) []event.Event {
	out := make([]event.Event, len(msgs))
	for i, m := range msgs {
		out[i] = event.Event{Timestamp: time.Date(2026, 11, 21, 12, 0, i, 0, time.UTC), Message: []byte(m), Meta: meta}
	}
	return out
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

// messages returns the messages of the records at level or above.
func (l *logRecorder) messages(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.Level >= level {
			out = append(out, r.Message)
		}
	}
	return out
}

// attr returns the value of attribute key of the first record with msg.
func (l *logRecorder) attr(msg, key string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.Message != msg {
			continue
		}
		var v string
		var found bool
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v, found = a.Value.String(), true
				return false
			}
			return true
		})
		return v, found
	}
	return "", false
}

// waitFor polls cond until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
