package file

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait for a condition. Generous: tests run with
// -race on loaded machines; a passing test does not wait for it.
const waitTimeout = 60 * time.Second

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

type line struct {
	msg   string
	flags event.Flags
}

// recorder is a fake Emitter. It records the lines of every batch by file,
// and acknowledges them at once (Delivered) unless hold is set, in which
// case the acks are kept for the test to release. With block set, Emit
// waits until a value is received from it (or ctx ends).
type recorder struct {
	mu      sync.Mutex
	lines   map[string][]line
	batches []*event.Batch
	held    []*event.Ack
	hold    bool
	block   chan struct{}
	emits   atomic.Int32 // Emit calls entered
	metas   map[string]*event.Meta
}

func newRecorder() *recorder {
	return &recorder{lines: map[string][]line{}, metas: map[string]*event.Meta{}}
}

func (r *recorder) Emit(ctx context.Context, b *event.Batch) error {
	r.emits.Add(1)
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(b.Events) == 0 || b.Ack == nil {
		panic("empty batch or batch without ack")
	}
	b.Ack.Retain(1)
	r.mu.Lock()
	file := ""
	for i, e := range b.Events {
		v, _ := e.Meta.Fields.Lookup("file")
		if i == 0 {
			file = v.Str()
		} else if v.Str() != file {
			panic("batch mixes files")
		}
		r.lines[file] = append(r.lines[file], line{string(e.Message), e.Flags})
		r.metas[file] = e.Meta
	}
	r.batches = append(r.batches, b)
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

// releaseHeld releases the held acks with status, in order or reversed.
func (r *recorder) releaseHeld(status event.Status, reverse bool) int {
	r.mu.Lock()
	held := r.held
	r.held = nil
	r.mu.Unlock()
	for i := range held {
		j := i
		if reverse {
			j = len(held) - 1 - i
		}
		held[j].Release(status)
	}
	return len(held)
}

func (r *recorder) msgs(file string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.lines[file]))
	for _, l := range r.lines[file] {
		out = append(out, l.msg)
	}
	return out
}

func (r *recorder) linesOf(file string) []line {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]line(nil), r.lines[file]...)
}

func (r *recorder) count(file string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lines[file])
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		n += len(l)
	}
	return n
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

// harness runs one file source.
type harness struct {
	t       testing.TB
	dataDir string
	cfg     *Config
	src     *Source
	rec     *recorder
	m       *metrics.Component
	logs    *logBuffer
	cancel  context.CancelFunc
	done    chan error
}

// testConfig returns a config with short timings for tests.
func testConfig(include ...string) *Config {
	c := NewConfig()
	c.Include = include
	c.ScanInterval = 50 * time.Millisecond
	c.RotateWait = 200 * time.Millisecond
	c.CheckpointInterval = 20 * time.Millisecond
	return c
}

func newHarness(t testing.TB, dataDir string, cfg *Config, rec *recorder) *harness {
	t.Helper()
	h := &harness{t: t, dataDir: dataDir, cfg: cfg, rec: rec, logs: &logBuffer{}}
	h.m = metrics.ForTest("source", "file", "test")
	src, err := New(component.Context{
		Kind: component.KindSource, Type: "file", ID: "test", DataDir: dataDir, Host: "node-1",
		Logger:  slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: h.m,
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.src = src
	return h
}

// start runs the source until stop.
func (h *harness) start() *harness {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.src.Run(ctx, h.rec) }()
	return h
}

// stopRun ends Run and returns its error.
func (h *harness) stopRun() error {
	h.t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		return err
	case <-time.After(waitTimeout):
		h.t.Fatal("Run did not return")
		return nil
	}
}

// stop ends Run and closes the source, waiting up to a second for acks.
func (h *harness) stop() {
	h.t.Helper()
	if err := h.stopRun(); err != nil {
		h.t.Fatalf("Run: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.src.Close(ctx); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
}

func (h *harness) errors(stage string) float64 { return testutil.ToFloat64(h.m.Errors(stage)) }

// checkpoint reads the saved positions by path.
func (h *harness) checkpoint() map[string]int64 {
	h.t.Helper()
	data, err := os.ReadFile(h.src.CheckpointPath())
	if err != nil {
		return nil
	}
	var env struct {
		Version int   `json:"version"`
		State   state `json:"state"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil // not written by the source (yet)
	}
	out := map[string]int64{}
	for _, f := range env.State.Files {
		out[f.Path] = f.Offset
	}
	return out
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t testing.TB, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// numbered returns lines "<prefix>-<i>" for i in [from, to) and their text.
func numbered(prefix string, from, to int) ([]string, string) {
	var ls []string
	var b strings.Builder
	for i := from; i < to; i++ {
		l := fmt.Sprintf("%s-%d", prefix, i)
		ls = append(ls, l)
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return ls, b.String()
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func waitLines(t testing.TB, rec *recorder, file string, want []string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got := rec.msgs(file)
		if equal(got, want) {
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			t.Fatalf("%s: got %d lines %s, want %d %s", filepath.Base(file), len(got), clip(got), len(want), clip(want))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func clip(s []string) string {
	if len(s) > 8 {
		return fmt.Sprintf("%q ... %q", s[:4], s[len(s)-4:])
	}
	return fmt.Sprintf("%q", s)
}

func mkdirAll(p string) error { return os.MkdirAll(p, 0o755) }
