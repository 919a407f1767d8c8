package vector

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/nomadtest"
)

const testDeadline = 15 * time.Second

// syncResult is one call of Options.Synced.
type syncResult struct {
	rep Report
	err error
	at  time.Time
}

// logBuffer collects the logs of a run.
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

// serverConfig is a configuration for the fake Nomad with short waits.
func serverConfig(srv *nomadtest.Server, outDir string) Config {
	cfg := testConfig(outDir, FormatTOML)
	cfg.Nomad.Address = srv.URL()
	cfg.BlockingWait = 100 * time.Millisecond
	cfg.ResyncInterval = time.Hour
	cfg.RetryInitialBackoff = 5 * time.Millisecond
	cfg.RetryMaxBackoff = 20 * time.Millisecond
	return cfg
}

// testOptions returns options with a client closed at the end of the
// test, logs collected and every sync sent on the returned channel.
func testOptions(t *testing.T, cfg Config) (Options, chan syncResult, *logBuffer) {
	t.Helper()
	client, err := api.NewClient(cfg.Nomad.APIConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	logs := &logBuffer{}
	syncs := make(chan syncResult, 1000)
	return Options{
		Config: cfg,
		Client: client,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Synced: func(r Report, err error) { syncs <- syncResult{rep: r, err: err, at: time.Now()} },
	}, syncs, logs
}

// watchRun is one Watch running until the test ends.
type watchRun struct {
	t     *testing.T
	syncs chan syncResult
	logs  *logBuffer
	done  chan error
	stop  context.CancelFunc
}

func startWatch(t *testing.T, cfg Config) *watchRun {
	t.Helper()
	opts, syncs, logs := testOptions(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchRun{t: t, syncs: syncs, logs: logs, done: make(chan error, 1), stop: cancel}
	go func() { w.done <- Watch(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-w.done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(testDeadline):
			t.Error("Watch did not return after cancel")
		}
	})
	return w
}

// next returns the next sync.
func (w *watchRun) next() syncResult {
	w.t.Helper()
	select {
	case s := <-w.syncs:
		return s
	case err := <-w.done:
		w.t.Fatalf("Watch returned early: %v\nlogs:\n%s", err, w.logs)
	case <-time.After(testDeadline):
		w.t.Fatalf("no sync within the deadline; logs:\n%s", w.logs)
	}
	return syncResult{}
}

// until returns the first sync whose files satisfy cond; every sync on the
// way must have succeeded.
func (w *watchRun) until(what string, cond func(files []string) bool) syncResult {
	w.t.Helper()
	deadline := time.After(testDeadline)
	for {
		select {
		case s := <-w.syncs:
			if s.err != nil {
				w.t.Fatalf("sync failed: %v", s.err)
			}
			if cond(s.rep.Files) {
				return s
			}
		case err := <-w.done:
			w.t.Fatalf("Watch returned early: %v\nlogs:\n%s", err, w.logs)
		case <-deadline:
			w.t.Fatalf("timed out waiting for %s; logs:\n%s", what, w.logs)
		}
	}
}

func has(files []string, names ...string) bool {
	for _, n := range names {
		if !slices.Contains(files, n) {
			return false
		}
	}
	return true
}
