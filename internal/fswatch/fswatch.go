// Package fswatch turns fsnotify events on a set of directories into hints
// for a source's run loop: files that were written to (poll them now) and
// directories whose entries changed (scan them now).
//
// Hints are collected in sets and signalled on a capacity-1 channel, so a
// burst of events costs one wake-up, and a run loop that is blocked on a
// slow sink never blocks fsnotify. Correctness must never depend on it:
// periodic scans and polls find everything anyway, later. Events can be
// lost (queue overflow); Changes.Overflow then asks for a full scan.
package fswatch

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
)

// Changes are the hints collected since the previous Take.
type Changes struct {
	// Written are the paths that were written to.
	Written map[string]struct{}
	// Dirs are the directories in which an entry was created, removed,
	// renamed or changed its mode, and watched directories that were
	// removed or renamed themselves.
	Dirs map[string]struct{}
	// Overflow: the kernel dropped events; scan everything.
	Overflow bool
}

// Rescan reports whether anything asks for a scan.
func (c Changes) Rescan() bool { return c.Overflow || len(c.Dirs) > 0 }

// Watcher watches directories (not recursively). Its methods are safe for
// concurrent use.
type Watcher struct {
	w   *fsnotify.Watcher
	log *slog.Logger

	wake chan struct{}
	done chan struct{}

	mu      sync.Mutex
	pending Changes
	dirs    map[string]struct{} // watched directories
	failed  map[string]struct{} // directories whose Add failed (logged once)
}

// New starts a watcher that watches nothing yet. Failures of later Adds
// and of the watch itself are logged to log.
func New(log *slog.Logger) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &Watcher{
		w: fw, log: log,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		pending: newChanges(),
		dirs:    map[string]struct{}{},
		failed:  map[string]struct{}{},
	}
	go w.run()
	return w, nil
}

func newChanges() Changes {
	return Changes{Written: map[string]struct{}{}, Dirs: map[string]struct{}{}}
}

func (w *Watcher) run() {
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			w.mu.Lock()
			if ev.Op&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename|fsnotify.Chmod) != 0 {
				w.pending.Dirs[filepath.Dir(ev.Name)] = struct{}{}
				if _, ok := w.dirs[ev.Name]; ok && ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0 {
					// The watch ended with the directory: forget it, so
					// that Sync watches a new directory of that name.
					delete(w.dirs, ev.Name)
					w.pending.Dirs[ev.Name] = struct{}{}
				}
			}
			if ev.Op&fsnotify.Write != 0 {
				w.pending.Written[ev.Name] = struct{}{}
			}
			w.mu.Unlock()
			w.signal()
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.mu.Lock()
				w.pending.Overflow = true
				w.mu.Unlock()
				w.signal()
				continue
			}
			w.log.Warn("file watch error; relying on scans and polls", "error", err)
		}
	}
}

func (w *Watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Wake receives a value after hints were collected; call Take then.
func (w *Watcher) Wake() <-chan struct{} { return w.wake }

// Coalesce is called by a run loop that Wake woke up: it waits until gap
// has passed since last (the loop's previous pass), so that writes to
// many files within gap cost one pass instead of one each. It returns at
// once when the pending hints include a directory change or an overflow
// (a new file must be opened before it can be deleted again: logmon
// purges within milliseconds), and reports false when ctx ended. The
// hints stay pending for Take.
func (w *Watcher) Coalesce(ctx context.Context, last time.Time, gap time.Duration) bool {
	d := gap - time.Since(last)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for !w.urgent() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-w.wake: // more hints: look again
		}
	}
	return ctx.Err() == nil
}

// urgent reports whether the pending hints ask for a scan.
func (w *Watcher) urgent() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending.Rescan()
}

// Take returns the hints collected since the previous call and forgets
// them.
func (w *Watcher) Take() Changes {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending.Written) == 0 && len(w.pending.Dirs) == 0 && !w.pending.Overflow {
		return Changes{}
	}
	c := w.pending
	w.pending = newChanges()
	return c
}

// Watching reports whether dir is watched.
func (w *Watcher) Watching(dir string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.dirs[dir]
	return ok
}

// Sync makes the set of watched directories equal to dirs and returns the
// directories it began to watch. A directory that cannot be watched is
// logged once (until it leaves the set) and left to scans and polls.
// Entries created in a new directory between the caller's last look and
// its watch are not reported: a caller that lists watched directories less
// often should list the added ones once more.
func (w *Watcher) Sync(dirs []string) (added []string) {
	want := make(map[string]struct{}, len(dirs))
	for _, d := range dirs {
		want[d] = struct{}{}
	}
	w.mu.Lock()
	var add, remove []string
	for d := range want {
		if _, ok := w.dirs[d]; !ok {
			add = append(add, d)
		}
	}
	for d := range w.dirs {
		if _, ok := want[d]; !ok {
			remove = append(remove, d)
		}
	}
	for d := range w.failed {
		if _, ok := want[d]; !ok {
			delete(w.failed, d)
		}
	}
	w.mu.Unlock()
	for _, d := range remove {
		// The directory may be gone already (fsnotify drops its watch).
		_ = w.w.Remove(d)
		w.mu.Lock()
		delete(w.dirs, d)
		w.mu.Unlock()
	}
	for _, d := range add {
		err := w.w.Add(d)
		w.mu.Lock()
		if err == nil {
			w.dirs[d] = struct{}{}
			delete(w.failed, d)
			added = append(added, d)
		} else if _, logged := w.failed[d]; !logged {
			w.failed[d] = struct{}{}
			w.log.Warn("cannot watch directory; its files are found by scans and polls only",
				"dir", d, "error", err)
		}
		w.mu.Unlock()
	}
	return added
}

// Close stops watching and waits for the event goroutine to end.
func (w *Watcher) Close() {
	_ = w.w.Close()
	<-w.done
}

// Starter starts a Watcher: New, or what a test gives instead (fsnotify
// unavailable). The zero Starter is New.
type Starter func(log *slog.Logger) (*Watcher, error)

// Start starts a watcher with s, or with New when s is nil.
func (s Starter) Start(log *slog.Logger) (*Watcher, error) {
	if s == nil {
		return New(log)
	}
	return s(log)
}

// StartOrWarn starts a watcher with s when on is set. When fsnotify cannot
// be used it counts the error in errs (may be nil), logs a warning that
// ends with without (what the caller does instead: "new files are found
// by scans only") and returns nil, as it does when on is not set.
func (s Starter) StartOrWarn(on bool, log *slog.Logger, errs prometheus.Counter, without string) *Watcher {
	if !on {
		return nil
	}
	w, err := s.Start(log)
	if err != nil {
		if errs != nil {
			errs.Inc()
		}
		log.Warn("cannot use fsnotify; "+without, "error", err)
		return nil
	}
	return w
}
