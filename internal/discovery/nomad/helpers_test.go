package nomad

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/nomadtest"
)

const testDeadline = 15 * time.Second

// logBuffer collects log lines from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// count returns how many lines contain every one of parts.
func (l *logBuffer) count(parts ...string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		all := line != ""
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

type harness struct {
	t    *testing.T
	srv  *nomadtest.Server
	w    *Watcher
	m    *Metrics
	logs *logBuffer
	up   chan []Group
	done chan error
	stop context.CancelFunc
}

// testConfig is a configuration for the fake server with short waits.
func testConfig(srv *nomadtest.Server) Config {
	cfg := DefaultConfig()
	cfg.Nomad.Address = srv.URL()
	cfg.BlockingWait = 100 * time.Millisecond
	cfg.ResyncInterval = time.Hour
	cfg.RetryInitialBackoff = 5 * time.Millisecond
	cfg.RetryMaxBackoff = 20 * time.Millisecond
	return cfg
}

func newHarness(t *testing.T, srv *nomadtest.Server, edit func(*Config)) *harness {
	t.Helper()
	if srv == nil {
		srv = nomadtest.New(t)
	}
	cfg := testConfig(srv)
	if edit != nil {
		edit(&cfg)
	}
	logs := &logBuffer{}
	m := testMetrics()
	// No Client: the watcher builds its own, which reads lists one
	// allocation at a time, as in production.
	w, err := New(Options{
		Config: cfg, SourceID: "nomad_test", Metrics: m,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, srv: srv, w: w, m: m, logs: logs, up: make(chan []Group)}
}

// start runs the watcher until the test ends.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.w.Run(ctx, h.up) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
		case <-time.After(testDeadline):
			h.t.Error("Run did not return after cancel")
		}
	})
}

// recv returns the next send of the watcher.
func (h *harness) recv() []Group {
	h.t.Helper()
	select {
	case gs := <-h.up:
		return gs
	case err := <-h.done:
		h.t.Fatalf("Run returned early: %v", err)
	case <-time.After(testDeadline):
		h.t.Fatalf("no groups within the deadline; logs:\n%s", h.logs)
	}
	return nil
}

// recvOne returns the next send, which must hold exactly one group.
func (h *harness) recvOne() Group {
	h.t.Helper()
	gs := h.recv()
	if len(gs) != 1 {
		h.t.Fatalf("want one group, got %d: %+v", len(gs), gs)
	}
	return gs[0]
}

// waitBlocked waits until the watcher waits in a blocking query with an
// index of at least idx.
func (h *harness) waitBlocked(idx uint64) {
	h.t.Helper()
	waitFor(h.t, "a blocking query at the current index", func() bool {
		if h.srv.Blocking() == 0 {
			return false
		}
		log := h.srv.RequestLog()
		for i := len(log) - 1; i >= 0; i-- {
			if log[i].Endpoint == nomadtest.EndpointNodeAllocations {
				return log[i].Index >= idx
			}
		}
		return false
	})
}

// expectQuiet proves the watcher sent nothing since the last recv: it adds
// a marker allocation and checks that the next send holds only it.
func (h *harness) expectQuiet() {
	h.t.Helper()
	id := h.srv.AddAlloc(nomadtest.Alloc{Namespace: "apps", Job: "marker"})
	g := h.recvOne()
	if g.AllocID != id {
		h.t.Fatalf("an unexpected group was sent before the marker: %+v", g)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func byID(gs []Group) map[string]Group {
	m := make(map[string]Group, len(gs))
	for _, g := range gs {
		m[g.AllocID] = g
	}
	return m
}
