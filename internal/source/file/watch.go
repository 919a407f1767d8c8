package file

import (
	"errors"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// watcher turns fsnotify events on the watched directories into hints for
// the run loop: paths that were written to (poll them now) and a request to
// rescan (something was created, removed, renamed or changed its mode).
// Hints are collected in a set and signalled on a capacity-1 channel, so a
// burst of events costs one wake-up and a run loop that is blocked on a slow
// sink never blocks fsnotify. Correctness never depends on it: the periodic
// scan and the polls find everything anyway, later.
type watcher struct {
	w   *fsnotify.Watcher
	log *slog.Logger

	wake chan struct{}
	done chan struct{}

	mu      sync.Mutex
	written map[string]struct{}
	rescan  bool
	dirs    map[string]struct{} // watched directories
	failed  map[string]struct{} // directories whose Add failed (logged once)
}

// startWatcher starts a watcher; a variable so that tests can make fsnotify
// unavailable.
var startWatcher = newWatcher

func newWatcher(log *slog.Logger) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{
		w: fw, log: log,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		written: map[string]struct{}{},
		dirs:    map[string]struct{}{},
		failed:  map[string]struct{}{},
	}
	go w.run()
	return w, nil
}

func (w *watcher) run() {
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			w.mu.Lock()
			if ev.Op&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename|fsnotify.Chmod) != 0 {
				w.rescan = true
			}
			if ev.Op&fsnotify.Write != 0 {
				w.written[ev.Name] = struct{}{}
			}
			w.mu.Unlock()
			w.signal()
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: a rescan finds what they would have said.
				w.mu.Lock()
				w.rescan = true
				w.mu.Unlock()
				w.signal()
				continue
			}
			w.log.Warn("file watch error; relying on scans and polls", "error", err)
		}
	}
}

func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns the written paths and whether a rescan was asked for since
// the last call.
func (w *watcher) take() (written map[string]struct{}, rescan bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rescan = w.rescan
	w.rescan = false
	if len(w.written) == 0 {
		return nil, rescan
	}
	written = w.written
	w.written = map[string]struct{}{}
	return written, rescan
}

// watching reports whether dir is watched.
func (w *watcher) watching(dir string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.dirs[dir]
	return ok
}

// sync makes the set of watched directories equal to dirs.
func (w *watcher) sync(dirs []string) {
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
		} else if _, logged := w.failed[d]; !logged {
			w.failed[d] = struct{}{}
			w.log.Warn("cannot watch directory; its files are found by scans and polls only",
				"dir", d, "error", err)
		}
		w.mu.Unlock()
	}
}

func (w *watcher) close() {
	_ = w.w.Close()
	<-w.done
}

// dirOf is the directory whose watch reports writes to path.
func dirOf(path string) string { return filepath.Dir(path) }
