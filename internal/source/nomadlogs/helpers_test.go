package nomadlogs

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/nomadtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait for a condition. Generous: tests run with
// -race on loaded machines; a passing test does not wait for it.
const waitTimeout = 20 * time.Second

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// got is one event as the recorder saw it.
type got struct {
	msg   string
	flags event.Flags
	meta  *event.Meta
	at    time.Time
}

// field returns a string field of the event's metadata ("stream",
// "nomad.task_name").
func (g got) field(path string) string {
	v, ok := g.meta.Fields.Get(path)
	if !ok {
		return ""
	}
	return v.Str()
}

// key is the stream the metadata says the event belongs to.
func (g got) key() string {
	return g.field("nomad.alloc_id") + "/" + g.field("nomad.task_name") + "/" + g.field("stream")
}

// recorder is a fake Emitter: it records every event and acknowledges
// each batch at once, unless it is blocked (Emit waits until unblocked)
// or holds acknowledgements for the test to release.
type recorder struct {
	mu      sync.Mutex
	events  []got
	byMsg   map[string]int
	held    []*event.Ack
	hold    bool
	blocked chan struct{} // non-nil: Emit waits until it is closed
}

func newRecorder() *recorder { return &recorder{byMsg: map[string]int{}} }

func (r *recorder) Emit(ctx context.Context, b *event.Batch) error {
	r.mu.Lock()
	block := r.blocked
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(b.Events) == 0 || b.Ack == nil {
		panic("empty batch or batch without ack")
	}
	b.Ack.Retain(1)
	now := time.Now()
	r.mu.Lock()
	for _, e := range b.Events {
		if e.Meta == nil {
			panic("event without metadata")
		}
		r.events = append(r.events, got{msg: string(e.Message), flags: e.Flags, meta: e.Meta, at: now})
		r.byMsg[string(e.Message)]++
	}
	hold := r.hold
	if hold {
		r.held = append(r.held, b.Ack)
	}
	r.mu.Unlock()
	if !hold {
		b.Ack.Release(event.Delivered)
	}
	return nil
}

func (r *recorder) block() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.blocked == nil {
		r.blocked = make(chan struct{})
	}
}

func (r *recorder) unblock() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.blocked != nil {
		close(r.blocked)
		r.blocked = nil
	}
}

// releaseHeld releases the held acknowledgements with status.
func (r *recorder) releaseHeld(status event.Status) {
	r.mu.Lock()
	held := r.held
	r.held = nil
	r.hold = false
	r.mu.Unlock()
	for _, a := range held {
		a.Release(status)
	}
}

func (r *recorder) all() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]got(nil), r.events...)
}

func (r *recorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byMsg[msg]
}

// hasAll reports whether every message arrived at least once.
func (r *recorder) hasAll(msgs []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		if r.byMsg[m] == 0 {
			return false
		}
	}
	return true
}

// find returns the first event with the message.
func (r *recorder) find(msg string) (got, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.msg == msg {
			return e, true
		}
	}
	return got{}, false
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), substr)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// harness runs one source against the fake Nomad API and a temporary
// alloc dir.
type harness struct {
	t        testing.TB
	srv      *nomadtest.Server
	allocDir string
	dataDir  string
	cfg      *Config
	rec      *recorder
	m        *metrics.Component
	reg      *metrics.Registry
	logs     *logBuffer
	src      *Source
	out      component.Emitter // nil: rec
	cancel   context.CancelFunc
	done     chan error
}

// testConfig returns a configuration for the fake API with short timings.
func testConfig(srv *nomadtest.Server) *Config {
	c := NewConfig()
	c.Nomad.Address = srv.URL()
	c.BlockingWait = 200 * time.Millisecond
	c.RetryInitialBackoff = 10 * time.Millisecond
	c.RetryMaxBackoff = 100 * time.Millisecond
	c.ScanInterval = 100 * time.Millisecond
	c.CheckpointInterval = 20 * time.Millisecond
	c.UnknownAllocWait = 500 * time.Millisecond
	c.TerminalIdle = 200 * time.Millisecond
	c.PartialLineTimeout = time.Second
	return c
}

// newHarness starts the fake API with its alloc dir in a temporary
// directory. edit changes the configuration before the source is built.
func newHarness(t testing.TB, edit func(*Config)) *harness {
	t.Helper()
	srv := nomadtest.New(t)
	h := &harness{t: t, srv: srv, allocDir: t.TempDir(), dataDir: t.TempDir(), rec: newRecorder()}
	a := srv.Agent()
	a.DataDir = filepath.Dir(h.allocDir)
	a.AllocDir = h.allocDir
	srv.SetAgent(a)
	h.cfg = testConfig(srv)
	if edit != nil {
		edit(h.cfg)
	}
	return h
}

// start builds a source over the harness's data dir and runs it until
// stop (or the end of the test).
func (h *harness) start() {
	h.t.Helper()
	h.reg = metrics.New()
	h.m = h.reg.Component("source", nomad.SourceType, "tasks")
	h.logs = &logBuffer{}
	src, err := New(componentContext(h.dataDir, h.m, h.logs), h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.src = src
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	var out component.Emitter = h.rec
	if h.out != nil {
		out = h.out
	}
	go func() { h.done <- src.Run(ctx, out) }()
	h.t.Cleanup(h.stop)
}

// stop ends Run and closes the source (idempotent).
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(waitTimeout):
		h.t.Fatal("Run did not return after cancel")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.src.Close(ctx); err != nil {
		h.t.Errorf("Close: %v", err)
	}
	if h.t.Failed() {
		h.t.Logf("source log:\n%s", lastLines(h.logs.String(), 80))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// addAlloc registers an allocation with the fake API and creates its
// directories as the Nomad client does (with the logmon fifos of its
// tasks). It returns the ID.
func (h *harness) addAlloc(a nomadtest.Alloc) string {
	h.t.Helper()
	if a.ID == "" {
		a.ID = nomadtest.NewID()
	}
	h.makeAllocDir(a.ID, a.Tasks)
	return h.srv.AddAlloc(a)
}

// makeAllocDir creates <alloc_dir>/<id>/alloc/logs and the tasks' fifos
// (default: one task "app").
func (h *harness) makeAllocDir(id string, tasks []nomadtest.Task) string {
	h.t.Helper()
	if len(tasks) == 0 {
		tasks = []nomadtest.Task{{Name: "app"}}
	}
	names := make([]string, len(tasks))
	for i, task := range tasks {
		names[i] = task.Name
	}
	return nomadtest.MakeAllocDir(h.t, h.allocDir, id, names...)
}

// newLogmon starts a logmon-style writer of a task stream.
func newLogmon(t testing.TB, dir, task string, stream nomad.Stream, maxSize int64, maxFiles int) *nomadtest.Logmon {
	return nomadtest.NewLogmon(t, dir, task, string(stream), maxSize, maxFiles)
}

// gc removes an allocation as the client's garbage collection does: from
// the API and its whole directory.
func (h *harness) gc(id string) {
	h.t.Helper()
	h.srv.RemoveAlloc(id)
	if err := os.RemoveAll(filepath.Join(h.allocDir, id)); err != nil {
		h.t.Fatal(err)
	}
}

func componentContext(dataDir string, m *metrics.Component, logs *logBuffer) component.Context {
	return component.Context{
		Kind: "source", Type: nomad.SourceType, ID: "tasks", DataDir: dataDir, Host: "test-host",
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: m,
	}
}

// heldOpen reports whether this process has path open (Linux: the links
// in /proc/self/fd; a deleted file's link ends in " (deleted)").
func heldOpen(t testing.TB, path string) bool {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list open files: %v", err)
	}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.TrimSuffix(target, " (deleted)") == path {
			return true
		}
	}
	return false
}

// removeAll deletes an allocation's directory, as garbage collection does.
func removeAll(allocDir, id string) error { return os.RemoveAll(filepath.Join(allocDir, id)) }
