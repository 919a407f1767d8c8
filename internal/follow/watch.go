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
	}
	return ch.Overflow
}

// syncWatches makes fsnotify watch the directory of every chain, or the
// deepest existing directory on the way to it (so that its creation is
// seen: an allocation whose directory the client has not created yet).
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
		if isDir(dir) {
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
	f.watcher.Sync(dirs)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
