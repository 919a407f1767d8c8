package follow

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitTimeout = 20 * time.Second

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// script is a Discoverer driven by the test: every Send goes out as one
// send of the discoverer, the first being the full set.
type script struct{ sends chan []discovery.Group }

func (s *script) Run(ctx context.Context, up chan<- []discovery.Group) error {
	for {
		select {
		case gs := <-s.sends:
			select {
			case up <- gs:
			case <-ctx.Done():
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (s *script) Send(gs ...discovery.Group) {
	if gs == nil {
		gs = []discovery.Group{}
	}
	s.sends <- gs
}

// memStore keeps the positions in memory.
type memStore struct {
	mu    sync.Mutex
	saved []Position
	saves int
	path  string // Path ("memory" when empty)
}

func (m *memStore) Path() string { return cmp.Or(m.path, "memory") }

func (m *memStore) Load() ([]Position, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Position(nil), m.saved...), m.saves > 0, nil
}

func (m *memStore) Save(ps []Position) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saved, m.saves = append([]Position(nil), ps...), m.saves+1
	return nil
}

func (m *memStore) position(key string) (Position, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.saved {
		if p.Key == key {
			return p, true
		}
	}
	return Position{}, false
}

// sink records messages and acknowledges at once unless blocked.
type sink struct {
	mu    sync.Mutex
	msgs  map[string]int
	block chan struct{}
}

func (s *sink) Emit(ctx context.Context, b *event.Batch) error {
	s.mu.Lock()
	block := s.block
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	for _, e := range b.Events {
		s.msgs[string(e.Message)]++
	}
	s.mu.Unlock()
	b.Ack.Retain(1)
	b.Ack.Release(event.Delivered)
	return nil
}

func (s *sink) n(m string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs[m]
}

func (s *sink) setBlocked(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on && s.block == nil {
		s.block = make(chan struct{})
	} else if !on && s.block != nil {
		close(s.block)
		s.block = nil
	}
}

// world is one Numbered target "t" in a directory, followed by a Follower
// fed by a script.
type world struct {
	t     *testing.T
	dir   string
	store *memStore
	disc  *script
	out   *sink
	logs  *strings.Builder
	logMu sync.Mutex
	f     *Follower
	stop  func()
	// stopped, when set, is called by stop between the end of Run and
	// Close: the follower's state may be looked at then.
	stopped func()
}

func (w *world) Write(p []byte) (int, error) {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	return w.logs.Write(p)
}

func (w *world) logged(s string) bool {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	return strings.Contains(w.logs.String(), s)
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, dir: filepath.Join(t.TempDir(), "logs"), store: &memStore{}, logs: &strings.Builder{}}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) start() {
	w.t.Helper()
	w.disc = &script{sends: make(chan []discovery.Group)}
	w.out = &sink{msgs: map[string]int{}}
	f, err := New(Options{
		Logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), Metrics: metrics.ForTest("source", "follow", w.t.Name()),
		Store: w.store, ScanInterval: 50 * time.Millisecond, CheckpointInterval: 10 * time.Millisecond,
		EndIdle: 50 * time.Millisecond, UseFsnotify: true, Words: Words{File: "log file", Target: "stream"},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.f = f
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, w.disc, w.out) }()
	w.stop = func() {
		cancel()
		if err := <-done; err != nil {
			w.t.Errorf("Run: %v", err)
		}
		if w.stopped != nil {
			w.stopped()
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		if err := f.Close(cctx); err != nil {
			w.t.Errorf("Close: %v", err)
		}
	}
	w.t.Cleanup(func() {
		if w.stop != nil {
			w.stop()
			w.stop = nil
		}
	})
}

func (w *world) target() discovery.Target {
	return discovery.Target{Key: "g/t", Dir: w.dir, Name: "t", Scheme: discovery.Numbered,
		Meta: event.NewMeta("test", nil), Attrs: []slog.Attr{slog.String("stream", "t")}}
}

func (w *world) write(n int, text string) {
	w.t.Helper()
	appendTo(w.t, filepath.Join(w.dir, fmt.Sprintf("t.%d", n)), text)
}

// A gone group (its files deleted) is read to its end through the open
// descriptors, with its last metadata, then released; its position stays.
func TestGoneGroupIsReadToItsEnd(t *testing.T) {
	w := newWorld(t)
	w.write(0, "first\n")
	w.start()
	w.disc.Send(discovery.Group{Key: "g", Targets: []discovery.Target{w.target()}})
	waitFor(t, "the first line", func() bool { return w.out.n("first") == 1 })
	w.out.setBlocked(true)
	w.write(0, "second\n")
	w.write(1, "third\n")
	waitFor(t, "file 1 held open", func() bool { return w.logged("t.1") })
	if err := os.RemoveAll(w.dir); err != nil {
		t.Fatal(err)
	}
	w.disc.Send(discovery.Group{Key: "g", Gone: true})
	w.out.setBlocked(false)
	waitFor(t, "the lines of the deleted files", func() bool { return w.out.n("second") == 1 && w.out.n("third") == 1 })
	waitFor(t, "the stream released", func() bool { return w.logged("read to its end; released") })
	w.stop()
	w.stop = nil
	if p, ok := w.store.position("g/t"); !ok || p.File != 1 || p.Offset != int64(len("third\n")) {
		t.Fatalf("position %+v, %v: want file 1 at its end", p, ok)
	}
}

// A live group without targets stops its target at once and keeps its
// position: named again, it resumes there.
func TestGroupWithoutTargetsStopsAndResumes(t *testing.T) {
	w := newWorld(t)
	w.write(0, "before\n")
	w.start()
	w.disc.Send(discovery.Group{Key: "g", Targets: []discovery.Target{w.target()}})
	waitFor(t, "the first line", func() bool { return w.out.n("before") == 1 })
	w.disc.Send(discovery.Group{Key: "g"})
	waitFor(t, "the stream stopped", func() bool { return w.logged("stopped following stream") })
	w.write(0, "while stopped\n")
	w.disc.Send(discovery.Group{Key: "g", Targets: []discovery.Target{w.target()}})
	waitFor(t, "the line written while stopped", func() bool { return w.out.n("while stopped") == 1 })
	if n := w.out.n("before"); n != 1 {
		t.Fatalf("the line before the stop arrived %d times", n)
	}
}

// A terminal group is read to its end and released after EndIdle; while
// it stays terminal, it is not followed again.
func TestTerminalGroupIsReleased(t *testing.T) {
	w := newWorld(t)
	w.write(0, "one\n")
	w.start()
	w.disc.Send(discovery.Group{Key: "g", Targets: []discovery.Target{w.target()}})
	waitFor(t, "the first line", func() bool { return w.out.n("one") == 1 })
	w.write(0, "last\n")
	w.disc.Send(discovery.Group{Key: "g", Terminal: true, Targets: []discovery.Target{w.target()}})
	waitFor(t, "the last line", func() bool { return w.out.n("last") == 1 })
	waitFor(t, "the stream released", func() bool { return w.logged("read to its end; released") })
	// A resync names it again, still terminal: nothing is read again.
	w.disc.Send(discovery.Group{Key: "g", Terminal: true, Targets: []discovery.Target{w.target()}})
	w.disc.Send() // a later send: the previous one was applied
	if w.out.n("one") != 1 || w.out.n("last") != 1 {
		t.Fatal("a released stream was read again")
	}
}

// A target followed from a saved position that had lines not delivered,
// whose files are gone (its allocation collected as drover starts): it is
// released without a file, and the loss is reported with the files from
// the position's to the newest one drover had seen.
func TestTargetWithoutItsFilesReportsTheUndeliveredLines(t *testing.T) {
	w := newWorld(t)
	last := uint64(2)
	w.store.saved = []Position{{Key: "g/t", File: 1, Offset: 10, AtEnd: &no, LastFile: &last}}
	w.store.saves = 1
	w.start()
	w.disc.Send(discovery.Group{Key: "g", Terminal: true, Targets: []discovery.Target{w.target()}})
	waitFor(t, "the stream released", func() bool { return w.logged("read to its end; released") })
	if !w.logged(`log files were deleted before drover read them to their end; the lines it had not delivered are lost" stream=t first_file=1 last_file=2 reason="deleted before drover could open them"`) {
		t.Fatalf("the loss is not reported:\n%s", w.logs.String())
	}
	// Once: the saved position says it is accounted for.
	w.stop()
	w.stop = nil
	if p, ok := w.store.position("g/t"); !ok || p.AtEnd == nil || !*p.AtEnd {
		t.Fatalf("position %+v after the report", p)
	}
}
