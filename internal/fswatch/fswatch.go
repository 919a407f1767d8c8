// Package fswatch turns inotify events on a set of directories into hints
// for a source's run loop: files that were written to (poll them now) and
// directories whose entries changed (scan them now).
//
// Hints are collected in sets and signalled on a capacity-1 channel, so a
// burst of events costs one wake-up, and a run loop that is blocked on a
// slow sink never blocks the watcher. Correctness must never depend on it:
// periodic scans and polls find everything anyway, later. Events can be
// lost (queue overflow); Changes.Overflow then asks for a full scan.
//
// The watcher reads the kernel's inotify queues itself (as fsnotify does,
// through the runtime's poller), with two inotify instances: one for the
// changes of directory entries (created, deleted, renamed, mode changed),
// read as soon as they come, since a new file must be opened before it can
// be deleted again; and one for writes, read at most every WriteBatch: the
// writes to a node's thousand streams that come within that time are read
// with one read(2) and one wake-up of its goroutine, instead of one each
// (the kernel also merges repeated writes to a file that are still
// queued).
package fswatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// WriteBatch is the shortest time between two reads of the write events'
// queue.
const WriteBatch = 20 * time.Millisecond

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

// The two inotify instances.
const (
	entries = iota // changes of directory entries, read at once
	writes         // writes, read at most every WriteBatch
	queues
)

// masks are what each instance watches in a directory.
var masks = [queues]uint32{
	entries: unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_ATTRIB |
		unix.IN_DELETE_SELF | unix.IN_MOVE_SELF,
	writes: unix.IN_MODIFY,
}

// queue is one inotify instance.
type queue struct {
	f  *os.File
	fd int
	// byWD maps its watch descriptors to the watched directories.
	byWD map[int32]string
}

// Watcher watches directories (not recursively). Its methods are safe for
// concurrent use.
type Watcher struct {
	log *slog.Logger

	wake    chan struct{}
	closing chan struct{}
	done    sync.WaitGroup
	once    sync.Once

	mu      sync.Mutex
	q       [queues]queue
	pending Changes
	dirs    map[string][queues]int32 // watched directories, with their watch descriptors
	failed  map[string]struct{}      // directories whose Add failed (logged once)
}

// New starts a watcher that watches nothing yet. Failures of later Adds
// and of the watch itself are logged to log.
func New(log *slog.Logger) (*Watcher, error) {
	w := &Watcher{
		log:     log,
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		pending: newChanges(),
		dirs:    map[string][queues]int32{},
		failed:  map[string]struct{}{},
	}
	for i := range w.q {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
		if err != nil {
			for _, q := range w.q[:i] {
				_ = q.f.Close()
			}
			return nil, fmt.Errorf("starting inotify: %w", err)
		}
		// A non-blocking descriptor: its reads wait in the runtime's
		// poller, and Close ends them.
		w.q[i] = queue{f: os.NewFile(uintptr(fd), "inotify"), fd: fd, byWD: map[int32]string{}}
	}
	w.done.Add(queues)
	go w.read(entries, 0)
	go w.read(writes, WriteBatch)
	return w, nil
}

func newChanges() Changes {
	return Changes{Written: map[string]struct{}{}, Dirs: map[string]struct{}{}}
}

// read reads queue i until the watcher is closed, waiting at least pause
// after each read.
func (w *Watcher) read(i int, pause time.Duration) {
	defer w.done.Done()
	// Room for 4096 events without names, or about 1000 with them.
	buf := make([]byte, 64<<10)
	var t *time.Timer
	for {
		n, err := w.q[i].f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			w.log.Warn("file watch error; relying on scans and polls", "error", err)
			w.mu.Lock()
			w.pending.Overflow = true
			w.mu.Unlock()
			w.signal()
			return
		}
		w.handle(i, buf[:n])
		if pause <= 0 {
			continue
		}
		if t == nil {
			t = time.NewTimer(pause)
		} else {
			t.Reset(pause)
		}
		select {
		case <-w.closing:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// handle turns the events read from queue i into hints.
func (w *Watcher) handle(i int, buf []byte) {
	w.mu.Lock()
	q := &w.q[i]
	hinted := false
	for off := 0; off+unix.SizeofInotifyEvent <= len(buf); {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		nameEnd := off + unix.SizeofInotifyEvent + int(ev.Len)
		if nameEnd > len(buf) {
			break
		}
		name := buf[off+unix.SizeofInotifyEvent : nameEnd]
		off = nameEnd
		for len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			w.pending.Overflow = true
			hinted = true
			continue
		}
		dir, ok := q.byWD[ev.Wd]
		if !ok {
			continue // a watch removed since
		}
		if ev.Mask&(unix.IN_IGNORED|unix.IN_UNMOUNT) != 0 {
			// The kernel dropped the watch: its directory is gone.
			delete(q.byWD, ev.Wd)
			continue
		}
		p := dir
		if len(name) > 0 {
			// dir is clean (filepath.Join of a clean directory and a
			// name is a concatenation) unless it is the root.
			if dir == "/" {
				p = "/" + string(name)
			} else {
				p = dir + "/" + string(name)
			}
		}
		if ev.Mask&unix.IN_MODIFY != 0 {
			if len(name) > 0 {
				w.pending.Written[p] = struct{}{}
				hinted = true
			}
			continue
		}
		// The directory of the entry; for the watched directory's own
		// removal, renaming or mode change, its parent.
		w.pending.Dirs[filepath.Dir(p)] = struct{}{}
		hinted = true
		if ev.Mask&(unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0 {
			if _, watched := w.dirs[p]; watched {
				// The watch ended with the directory: forget it, so
				// that Sync watches a new directory of that name.
				w.forgetLocked(p)
				w.pending.Dirs[p] = struct{}{}
			}
		}
	}
	w.mu.Unlock()
	if hinted {
		w.signal()
	}
}

// forgetLocked stops watching dir: its watches are removed from the kernel
// (a renamed directory keeps them otherwise) and from the maps.
func (w *Watcher) forgetLocked(dir string) {
	wds, ok := w.dirs[dir]
	if !ok {
		return
	}
	delete(w.dirs, dir)
	for i := range w.q {
		q := &w.q[i]
		if q.byWD[wds[i]] == dir {
			delete(q.byWD, wds[i])
			// Gone already when the directory was deleted.
			_, _ = unix.InotifyRmWatch(q.fd, uint32(wds[i]))
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
// many files within gap cost one pass instead of one each. Writes are
// read in batches of WriteBatch already, so it waits WriteBatch less (a
// gap of WriteBatch does not wait: the write that waited longest in the
// kernel's queue is not held back twice). It returns at
// once when the pending hints include a directory change or an overflow
// (a new file must be opened before it can be deleted again: logmon
// purges within milliseconds), and reports false when ctx ended. The
// hints stay pending for Take.
func (w *Watcher) Coalesce(ctx context.Context, last time.Time, gap time.Duration) bool {
	d := gap - WriteBatch - time.Since(last)
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

// Sync makes the set of watched directories equal to dirs (clean paths, as
// filepath.Join and filepath.Dir return them: a file in dir is reported
// as dir + "/" + its name) and returns the directories it began to watch. A directory that cannot be watched is
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
	defer w.mu.Unlock()
	for d := range w.dirs {
		if _, ok := want[d]; !ok {
			w.forgetLocked(d)
		}
	}
	for d := range w.failed {
		if _, ok := want[d]; !ok {
			delete(w.failed, d)
		}
	}
	for d := range want {
		if _, ok := w.dirs[d]; ok {
			continue
		}
		err := w.addLocked(d)
		if err == nil {
			delete(w.failed, d)
			added = append(added, d)
		} else if _, logged := w.failed[d]; !logged {
			w.failed[d] = struct{}{}
			w.log.Warn("cannot watch directory; its files are found by scans and polls only",
				"dir", d, "error", err)
		}
	}
	return added
}

// addLocked watches dir with both instances.
func (w *Watcher) addLocked(dir string) error {
	var wds [queues]int32
	for i := range w.q {
		wd, err := unix.InotifyAddWatch(w.q[i].fd, dir, masks[i])
		if err != nil {
			for j := range i {
				if w.q[j].byWD[wds[j]] == "" {
					_, _ = unix.InotifyRmWatch(w.q[j].fd, uint32(wds[j]))
				}
			}
			return &os.PathError{Op: "inotify_add_watch", Path: dir, Err: err}
		}
		wds[i] = int32(wd)
	}
	for i := range w.q {
		// The same directory under another name has the same descriptor:
		// the newer name wins, as in fsnotify.
		if old, ok := w.q[i].byWD[wds[i]]; ok && old != dir {
			if o, ok := w.dirs[old]; ok {
				o[i] = -1
				w.dirs[old] = o
			}
		}
		w.q[i].byWD[wds[i]] = dir
	}
	w.dirs[dir] = wds
	return nil
}

// Close stops watching and waits for the reading goroutines to end.
func (w *Watcher) Close() {
	w.once.Do(func() {
		close(w.closing)
		for _, q := range w.q {
			_ = q.f.Close()
		}
	})
	w.done.Wait()
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
