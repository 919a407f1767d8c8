package nomadevents

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
	"github.com/drover-dev/drover/internal/nomadtest/eventstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// got is one event as a sink received it.
type got struct {
	id        string // index/topic/type/namespace/key, as eventstream.Event.Identity
	synthetic bool
	typ       string
	message   []byte
}

// sink is an Emitter that records events. By default it acknowledges every
// batch at once; hold keeps the acknowledgements until release, fail makes
// chosen batches fail, block stalls Emit.
type sink struct {
	mu      sync.Mutex
	events  []got
	batches int
	hold    bool
	held    []*event.Ack
	failNth map[int]bool
	block   chan struct{}
}

func (s *sink) Emit(ctx context.Context, b *event.Batch) error {
	s.mu.Lock()
	block := s.block
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			b.Ack.Retain(1)
			b.Ack.Release(event.Failed)
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	for i := range b.Events {
		e := &b.Events[i]
		str := func(k string) string { v, _ := e.Get(k); return string(v.AppendText(nil)) }
		syn, _ := e.Get("synthetic")
		s.events = append(s.events, got{
			id:        fmt.Sprintf("%s/%s/%s/%s/%s", str("index"), str("topic"), str("type"), str("namespace"), str("key")),
			synthetic: syn.Bool(),
			typ:       str("type"),
			message:   e.Message,
		})
	}
	b.Ack.Retain(1)
	switch {
	case s.failNth[s.batches]:
		b.Ack.Release(event.Failed)
	case s.hold:
		s.held = append(s.held, b.Ack)
	default:
		b.Ack.Release(event.Delivered)
	}
	return nil
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

func (s *sink) ids(synthetic bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.events {
		if e.synthetic == synthetic {
			out = append(out, e.id)
		}
	}
	return out
}

func (s *sink) all() []got {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]got(nil), s.events...)
}

// releaseHeld acknowledges the held batches chosen by pick (by position).
func (s *sink) releaseHeld(pick func(i int) bool) {
	s.mu.Lock()
	var rest []*event.Ack
	var now []*event.Ack
	for i, a := range s.held {
		if pick(i) {
			now = append(now, a)
		} else {
			rest = append(rest, a)
		}
	}
	s.held = rest
	s.mu.Unlock()
	for _, a := range now {
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

func (l *logBuffer) count(s string) int { return strings.Count(l.String(), s) }

// harness runs one Source against a fake agent.
type harness struct {
	t      *testing.T
	srv    *eventstream.Server
	dir    string
	cfg    *Config
	src    *Source
	sink   *sink
	logs   *logBuffer
	m      *metrics.Component
	cancel context.CancelFunc
	done   chan error
}

// testConfig is a configuration for srv with short timings.
func testConfig(srv *eventstream.Server) *Config {
	cfg := NewConfig()
	cfg.Nomad.Address = srv.URL()
	cfg.ReconnectInitialBackoff = 5 * time.Millisecond
	cfg.ReconnectMaxBackoff = 50 * time.Millisecond
	cfg.CheckpointInterval = 10 * time.Millisecond
	return cfg
}

// start builds and runs a source with cfg; dir is its data dir.
func start(t *testing.T, srv *eventstream.Server, dir string, cfg *Config, sk *sink) *harness {
	t.Helper()
	if sk == nil {
		sk = &sink{}
	}
	h := &harness{t: t, srv: srv, dir: dir, cfg: cfg, sink: sk, logs: &logBuffer{}, done: make(chan error, 1)}
	h.m = metrics.ForTest("source", SourceType, "cluster")
	src, err := New(component.Context{
		Kind: component.KindSource, Type: SourceType, ID: "cluster", DataDir: dir, Host: "testhost",
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

// errors returns the source's error counter of a stage.
func (h *harness) errors(stage string) int {
	return int(counterValue(h.m.Errors(stage)))
}

func (h *harness) discarded(reason string) int {
	return int(counterValue(h.m.Discarded(reason)))
}

// savedCursor reads the persisted state.
func (h *harness) savedCursor() (state, bool) {
	h.t.Helper()
	var st state
	found, err := checkpoint.File{Path: h.src.StatePath(), Version: stateVersion}.Load(&st)
	if err != nil {
		h.t.Fatal(err)
	}
	return st, found
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// identities returns the identities of the events of items.
func identities(items []eventstream.Item) []string {
	var out []string
	for _, e := range eventstream.Events(items) {
		out = append(out, e.Identity())
	}
	return out
}

// streamIndexes returns the index parameter of every stream request.
func streamIndexes(srv *eventstream.Server) []uint64 {
	var out []uint64
	for _, r := range srv.StreamRequests() {
		out = append(out, r.Index())
	}
	return out
}

func counterValue(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }
