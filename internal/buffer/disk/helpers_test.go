package disk

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	goleak.VerifyTestMain(m)
}

// syncLog is a log destination tests can read.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// harness opens buffers on one directory, as successive runs of drover
// would.
type harness struct {
	t   *testing.T
	dir string
	m   *metrics.Component
	log *syncLog
	opt Options
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, dir: filepath.Join(t.TempDir(), "buf"), m: metrics.ForTest("sink", "test", "out"), log: &syncLog{}}
	h.opt = Options{Limits: Limits{MaxSize: 64 << 20, FsyncInterval: 0}}
	return h
}

func (h *harness) open() *Buffer {
	h.t.Helper()
	o := h.opt
	o.Dir, o.Metrics = h.dir, h.m
	o.Logger = slog.New(slog.NewTextHandler(h.log, nil))
	b, err := Open(o)
	if err != nil {
		h.t.Fatalf("Open: %v", err)
	}
	h.t.Cleanup(func() { b.Close() })
	return b
}

func (h *harness) corrupt() float64 { return testutil.ToFloat64(h.m.Errors("buffer_corrupt")) }

// ackLog records how upstream batches were acknowledged, by name.
type ackLog struct {
	mu   sync.Mutex
	done map[string]bool // name -> ok
}

func newAckLog() *ackLog { return &ackLog{done: map[string]bool{}} }

func (a *ackLog) get(name string) (ok, done bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ok, done = a.done[name]
	return
}

func (a *ackLog) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.done)
}

var testMeta = event.NewMeta("src", event.NewFields(event.Field{Key: "file", Value: event.StringValue("/logs/web.stdout.0")}))

// batch builds a batch of n events named name-0 .. name-(n-1). Its Ack
// reports to acks under name once the caller's hold and the buffer's are
// released.
func batch(name string, n int, acks *ackLog) *event.Batch {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{Timestamp: time.Unix(1700000000, int64(i)), Message: []byte(fmt.Sprintf("%s-%d", name, i)), Meta: testMeta}
	}
	return &event.Batch{Events: evs, Ack: event.NewAck(func(ok bool) {
		if acks != nil {
			acks.mu.Lock()
			acks.done[name] = ok
			acks.mu.Unlock()
		}
	})}
}

// push pushes a batch and gives up the caller's hold, as a source does.
func push(t *testing.T, b *Buffer, bt *event.Batch) {
	t.Helper()
	if err := b.Push(context.Background(), bt); err != nil {
		t.Fatalf("Push: %v", err)
	}
	bt.Ack.Release(event.Delivered)
}

// next returns the next batch or fails after a deadline.
func next(t *testing.T, b *Buffer) *event.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bt, err := b.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return bt
}

// nothingNext checks that Next has nothing to hand out right now.
func nothingNext(t *testing.T, b *Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if bt, err := b.Next(ctx); err == nil {
		t.Fatalf("Next handed out %q, want nothing", messages(bt))
	}
}

func messages(bt *event.Batch) []string {
	out := make([]string, len(bt.Events))
	for i, e := range bt.Events {
		out[i] = string(e.Message)
	}
	return out
}

// drainAll reads and acknowledges until the buffer holds nothing that Open
// found valid or Push admitted, and returns the messages in order.
func drainAll(t *testing.T, b *Buffer) []string {
	t.Helper()
	var out []string
	for b.Stats().Records > 0 {
		bt := next(t, b)
		out = append(out, messages(bt)...)
		bt.Ack.Release(event.Delivered)
	}
	return out
}

func names(name string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", name, i)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func sameStrings(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %d messages %v\nwant %d %v", len(got), got, len(want), want)
	}
}

var discardLogger = slog.New(slog.DiscardHandler)
