package journald

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/source/journald/journaltest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// got is one event as the sink received it.
type got struct {
	message string
	ts      time.Time
	host    string
	flags   event.Flags
	fields  map[string]string // the journald object, as text
}

// sink is an Emitter that records events. It acknowledges every batch at
// once unless hold is set; failNext makes the next batch fail.
type sink struct {
	mu       sync.Mutex
	events   []got
	batches  int
	hold     bool
	held     []*event.Ack
	failNext int
}

func (s *sink) Emit(ctx context.Context, b *event.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	for i := range b.Events {
		e := &b.Events[i]
		g := got{message: string(e.Message), ts: e.Timestamp, flags: e.Flags, fields: map[string]string{}}
		if v, ok := e.Get("host"); ok {
			g.host = v.Str()
		}
		if v, ok := e.Get(journaldKey); ok {
			for _, f := range v.Object().All() {
				g.fields[f.Key] = string(f.Value.AppendText(nil))
			}
		}
		s.events = append(s.events, g)
	}
	b.Ack.Retain(1)
	switch {
	case s.failNext > 0:
		s.failNext--
		b.Ack.Release(event.Failed)
	case s.hold:
		s.held = append(s.held, b.Ack)
	default:
		b.Ack.Release(event.Delivered)
	}
	return nil
}

func (s *sink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.events))
	for i, e := range s.events {
		out[i] = e.message
	}
	return out
}

func (s *sink) all() []got {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]got(nil), s.events...)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// releaseHeld acknowledges every held batch.
func (s *sink) releaseHeld() {
	s.mu.Lock()
	held := s.held
	s.held = nil
	s.hold = false
	s.mu.Unlock()
	for _, a := range held {
		a.Release(event.Delivered)
	}
}

// logBuffer collects the source's logs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// harness runs one Source.
type harness struct {
	t      *testing.T
	src    *Source
	sink   *sink
	logs   *logBuffer
	m      *metrics.Component
	cancel context.CancelFunc
	done   chan error
}

// testConfig reads the journal of j.
func testConfig(j *journaltest.Journal) *Config {
	cfg := NewConfig()
	cfg.JournalDirectory = j.Dir
	cfg.CheckpointInterval = 10 * time.Millisecond
	return cfg
}

// start builds and runs a source with cfg; dataDir is its data dir.
func start(t *testing.T, dataDir string, cfg *Config, sk *sink) *harness {
	t.Helper()
	if sk == nil {
		sk = &sink{}
	}
	h := &harness{t: t, sink: sk, logs: &logBuffer{}, done: make(chan error, 1)}
	h.m = metrics.ForTest("source", SourceType, "host")
	src, err := New(component.Context{
		Kind: component.KindSource, Type: SourceType, ID: "host", DataDir: dataDir, Host: "drover-host",
		Logger:  slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: h.m,
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.src = src
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- src.Run(ctx, sk) }()
	t.Cleanup(func() { h.stop() })
	return h
}

// stop ends Run and closes the source (waiting for acknowledgements for up
// to a second).
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	if err := <-h.done; err != nil {
		h.t.Errorf("Run returned %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.src.Close(ctx); err != nil {
		h.t.Errorf("Close: %v", err)
	}
	if h.t.Failed() {
		h.t.Logf("source logs:\n%s", h.logs.String())
	}
}

func (h *harness) errors(stage string) int { return int(testutil.ToFloat64(h.m.Errors(stage))) }

func (h *harness) discarded(reason string) int {
	return int(testutil.ToFloat64(h.m.Discarded(reason)))
}

// saved reads the persisted position.
func (h *harness) saved() position {
	h.t.Helper()
	var st state
	if _, err := (checkpoint.File{Path: h.src.StatePath(), Version: stateVersion}).Load(&st); err != nil {
		h.t.Fatal(err)
	}
	return st.position
}

// waitCount waits until the sink holds n events.
func (h *harness) waitCount(n int) {
	h.t.Helper()
	waitUntil(h.t, fmt.Sprintf("%d events", n), func() bool { return h.sink.count() >= n })
}

func counter(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// base is the realtime of the first test entry: recent, so that
// current-boot and since arguments behave as on a live machine.
var base = time.Now().Add(-time.Hour).Truncate(time.Second).UTC()

// entries returns n entries with messages prefix-0000 ... one second apart
// from base plus offset seconds.
func entries(prefix string, offset, n int, fields ...string) []journaltest.Entry {
	out := make([]journaltest.Entry, n)
	for i := range out {
		out[i] = journaltest.Msg(base.Add(time.Duration(offset+i)*time.Second), fmt.Sprintf("%s-%04d", prefix, offset+i), fields...)
	}
	return out
}

// names returns prefix-NNNN for from <= N < to.
func names(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%04d", prefix, i))
	}
	return out
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }
