package fswatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collect takes hints until cond holds for the merged changes.
func collect(t *testing.T, w *Watcher, what string, cond func(Changes) bool) Changes {
	t.Helper()
	all := newChanges()
	deadline := time.After(5 * time.Second)
	for {
		c := w.Take()
		for p := range c.Written {
			all.Written[p] = struct{}{}
		}
		for d := range c.Dirs {
			all.Dirs[d] = struct{}{}
		}
		all.Overflow = all.Overflow || c.Overflow
		if cond(all) {
			return all
		}
		select {
		case <-w.Wake():
		case <-deadline:
			t.Fatalf("timed out waiting for %s; got %+v", what, all)
		}
	}
}

func TestHints(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Sync([]string{dir, sub})
	if !w.Watching(dir) || !w.Watching(sub) {
		t.Fatal("directories not watched")
	}
	if c := w.Take(); c.Rescan() || len(c.Written) > 0 {
		t.Fatalf("hints before any change: %+v", c)
	}

	f := filepath.Join(sub, "a.log")
	if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	collect(t, w, "the create and the write", func(c Changes) bool {
		_, wrote := c.Written[f]
		_, created := c.Dirs[sub]
		return wrote && created
	})

	// A watched directory that is removed is forgotten, and watched again
	// when Sync is told about a new one of that name.
	if err := os.RemoveAll(sub); err != nil {
		t.Fatal(err)
	}
	collect(t, w, "the removal", func(c Changes) bool {
		_, parent := c.Dirs[dir]
		_, self := c.Dirs[sub]
		return parent && self
	})
	if w.Watching(sub) {
		t.Fatal("removed directory still counts as watched")
	}
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	w.Sync([]string{dir, sub})
	if err := os.WriteFile(f, []byte("y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	collect(t, w, "a write in the new directory", func(c Changes) bool {
		_, wrote := c.Written[f]
		return wrote
	})

	w.Sync([]string{dir})
	if w.Watching(sub) {
		t.Fatal("still watching a directory left out of Sync")
	}
}

func TestSyncMissingDirectory(t *testing.T) {
	w, err := New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	missing := filepath.Join(t.TempDir(), "missing")
	w.Sync([]string{missing})
	if w.Watching(missing) {
		t.Fatal("a missing directory counts as watched")
	}
}

// TestCoalesce: a wake-up for writes waits out the gap; one for a new file
// does not.
func TestCoalesce(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "a.log")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Sync([]string{dir})
	ctx := context.Background()

	// Only writes pending: the whole gap.
	if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	collect(t, w, "the write", func(c Changes) bool { _, ok := c.Written[f]; return ok })
	if err := os.WriteFile(f, []byte("y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const gap = 200 * time.Millisecond
	start := time.Now()
	if !w.Coalesce(ctx, start, gap) {
		t.Fatal("Coalesce reported ctx ended")
	}
	if took := time.Since(start); took < gap-WriteBatch {
		t.Fatalf("returned after %v with only writes pending, want at least %v", took, gap-WriteBatch)
	}
	if !w.Coalesce(ctx, time.Now(), WriteBatch) {
		t.Fatal("Coalesce reported ctx ended")
	}
	if c := w.Take(); c.Rescan() {
		t.Fatalf("unexpected directory hints: %+v", c)
	}

	// A new file, while Coalesce waits: it returns long before the gap.
	done := make(chan time.Duration, 1)
	start = time.Now()
	go func() {
		w.Coalesce(ctx, start, time.Hour)
		done <- time.Since(start)
	}()
	if err := os.WriteFile(filepath.Join(dir, "b.log"), []byte("z\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Coalesce kept waiting with a new file pending")
	}
	if c := w.Take(); !c.Rescan() {
		t.Fatalf("the new file's hint was taken: %+v", c)
	}

	// A context that ends.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if w.Coalesce(cctx, time.Now(), time.Hour) {
		t.Fatal("Coalesce reported true for an ended context")
	}
}

func TestStartOrWarn(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	errs := prometheus.NewCounter(prometheus.CounterOpts{Name: "errs"})
	if w := Starter(nil).StartOrWarn(false, log, errs, "scans only"); w != nil {
		t.Fatal("a watcher although fsnotify is off")
	}
	failing := Starter(func(*slog.Logger) (*Watcher, error) { return nil, errors.New("too many open files") })
	if w := failing.StartOrWarn(true, log, errs, "scans only"); w != nil {
		t.Fatal("a watcher although it could not start")
	}
	if testutil.ToFloat64(errs) != 1 || !strings.Contains(logs.String(), "cannot use fsnotify; scans only") {
		t.Fatalf("not reported: %v\n%s", testutil.ToFloat64(errs), logs.String())
	}
	w := Starter(nil).StartOrWarn(true, log, errs, "scans only")
	if w == nil {
		t.Fatal("no watcher")
	}
	w.Close()
}

// TestRenamedDirectory: a watched directory that is renamed is forgotten
// (its watch removed: writes under its new name are not reported under the
// old one), and reported with its parent.
func TestRenamedDirectory(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Sync([]string{dir, sub})
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(sub, moved); err != nil {
		t.Fatal(err)
	}
	collect(t, w, "the rename", func(c Changes) bool {
		_, parent := c.Dirs[dir]
		_, self := c.Dirs[sub]
		return parent && self
	})
	waitFor(t, "the renamed directory forgotten", func() bool { return !w.Watching(sub) })
	if err := os.WriteFile(filepath.Join(moved, "a.log"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A write in a watched directory after it: every hint before it has
	// been read once it is seen.
	mark := filepath.Join(dir, "mark")
	if err := os.WriteFile(mark, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := collect(t, w, "the mark", func(c Changes) bool { _, ok := c.Written[mark]; return ok })
	for p := range c.Written {
		if p != mark {
			t.Fatalf("write reported for %s after its directory was renamed", p)
		}
	}
}

// TestManyWrites: writes to many files, read in batches, are each
// reported once with their path.
func TestManyWrites(t *testing.T) {
	dir := t.TempDir()
	w, err := New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Sync([]string{dir})
	const n = 3000
	want := map[string]bool{}
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("file-with-a-longer-name-%04d.log", i))
		want[p] = true
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := collect(t, w, "every write", func(c Changes) bool { return len(c.Written) >= n || c.Overflow })
	if c.Overflow {
		t.Skip("the kernel's queue overflowed (fs.inotify.max_queued_events is small here)")
	}
	for p := range c.Written {
		if !want[p] {
			t.Fatalf("write reported for %q, not a file written", p)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkHandle turns one read of 100 write events (each a file of
// another stream, as on a node of many streams) into hints.
func BenchmarkHandle(b *testing.B) {
	w := &Watcher{log: slog.New(slog.DiscardHandler), wake: make(chan struct{}, 1), pending: newChanges(),
		dirs: map[string][queues]int32{}}
	w.q[writes].byWD = map[int32]string{}
	var buf []byte
	for i := range 100 {
		wd := int32(i + 1)
		w.q[writes].byWD[wd] = fmt.Sprintf("/var/lib/nomad/alloc/b0b0%04x-0000-4000-8000-000000000000/alloc/logs", i)
		name := []byte("app.stdout.0")
		name = append(name, make([]byte, 16-len(name))...) // padded as the kernel pads
		ev := unix.InotifyEvent{Wd: wd, Mask: unix.IN_MODIFY, Len: uint32(len(name))}
		buf = append(buf, unsafe.Slice((*byte)(unsafe.Pointer(&ev)), unix.SizeofInotifyEvent)...)
		buf = append(buf, name...)
	}
	b.ReportAllocs()
	for b.Loop() {
		w.handle(writes, buf)
		w.Take()
		select {
		case <-w.wake:
		default:
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
}
