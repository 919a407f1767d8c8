package follow

import (
	"os"
	"path/filepath"
	"time"
)

// takeHints applies fsnotify's hints: chains whose files were written are
// polled now (a write to a parked file is noted), directories whose
// entries changed are marked dirty (scanned next), and lost events ask for
// a full scan, which the result reports.
func (f *Follower) takeHints(now time.Time, dirty map[string]struct{}) (full bool) {
	ch := f.watcher.Take()
	for p := range ch.Written {
		c := f.byPath[p]
		if c == nil {
			continue
		}
		c.poll.Next = now
		for _, cf := range c.files {
			if cf.slot.Parked() && cf.r.Path() == p {
				cf.writtenParked = true
			}
		}
	}
	for d := range ch.Dirs {
		dirty[d] = struct{}{}
		// A file of the directory may have been deleted or renamed: its
		// chain looks at it now rather than at its next safety poll.
		for _, c := range f.byDir[d] {
			c.poll.Next = now
		}
	}
	if ch.Overflow {
		// Writes may have gone unreported: poll every chain.
		for _, c := range f.order {
			c.poll.Next = now
		}
	}
	return ch.Overflow
}

// syncWatches makes fsnotify watch the directory of every chain, or the
// deepest existing directory on the way to it (so that its creation is
// seen: an allocation whose directory the client has not created yet).
// The directories it begins to watch are scanned once more, now: what was
// created in them before the watch began is not reported, and scans leave
// watched directories out.
func (f *Follower) syncWatches() {
	if f.watcher == nil {
		return
	}
	dirs := make([]string, 0, len(f.byDir))
	waitingFor := map[string][]string{}
	for dir, cs := range f.byDir {
		live := false
		for _, c := range cs {
			live = live || !c.closed
		}
		if !live {
			continue
		}
		// A watched directory needs no look: its removal or renaming
		// ends its watch (fswatch forgets it then).
		if f.watcher.Watching(dir) || isDir(dir) {
			dirs = append(dirs, dir)
			continue
		}
		for at, up := dir, filepath.Dir(dir); up != at; at, up = up, filepath.Dir(up) {
			if isDir(up) {
				dirs = append(dirs, up)
				waitingFor[up] = append(waitingFor[up], dir)
				break
			}
		}
	}
	f.waitingFor = waitingFor
	added := f.watcher.Sync(dirs)
	if len(added) == 0 {
		return
	}
	now := time.Now().Round(0)
	for _, d := range added {
		if cs := f.byDir[d]; len(cs) > 0 {
			f.scanDir(d, cs, now)
		}
		for _, below := range waitingFor[d] {
			if cs := f.byDir[below]; len(cs) > 0 {
				f.scanDir(below, cs, now)
			}
		}
	}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
