package fswatch

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
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
	if took := time.Since(start); took < gap {
		t.Fatalf("returned after %v with only writes pending, want at least %v", took, gap)
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
