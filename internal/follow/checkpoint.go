package follow

import (
	"os"
	"time"

	"github.com/drover-dev/drover/internal/tail"
)

// Position is the saved position of one target, as a Store keeps it.
type Position struct {
	// Key is the target's key (discovery.Target.Key).
	Key string
	// File is the number of the file the position is in: N of a Numbered
	// target's <name>.<N>; 0 for a Logrotate target.
	File uint64
	// Path is where the file was when the position was taken (a Logrotate
	// file; a rename changes it). Empty for Numbered targets.
	Path string
	// Fingerprint identifies the file's content: its device and inode and
	// the checksum of its head. A position applies to a file only while
	// its head still has that checksum.
	Fingerprint tail.Fingerprint
	// Offset is the committed offset: every line before it was
	// acknowledged by every consumer.
	Offset int64
	// LastSeen is when the target was last reported by the discoverer;
	// positions are forgotten checkpoint_retention after it.
	LastSeen time.Time
	// AtEnd says whether the position was the end of the target as far as
	// drover had seen it (everything it saw written was acknowledged).
	// Nil when unknown (a checkpoint that did not say).
	AtEnd *bool
	// LastFile is the newest file of the target drover had seen (its
	// number); nil when unknown. With AtEnd, it says which files held
	// lines not delivered yet.
	LastFile *uint64
	// Later are the files of a Kubernetes target after the position's
	// file, in order, that held lines not acknowledged yet: a start that
	// finds one neither in the directory nor compressed reports its loss.
	// Nil for the other schemes, and when the checkpoint did not say.
	Later []LaterFile
}

// Store keeps a follower's positions in its source's checkpoint format
// (each source keeps the format of its checkpoint files across releases).
// The follower calls Load once, before anything is read, and Save from
// one goroutine at a time.
type Store interface {
	// Path is where the checkpoint is kept.
	Path() string
	// Load returns the saved positions. existed reports whether a
	// checkpoint existed, usable or not: without one, the follower starts
	// for the first time (read_from applies). A damaged checkpoint is the
	// store's to log and count; err only says that the checkpoint could
	// not be read at all (the follower then does not start: reading
	// everything again could flood the sinks).
	Load() (ps []Position, existed bool, err error)
	// Save replaces the checkpoint with ps, atomically. The positions come
	// in no particular order.
	Save(ps []Position) error
}

// snapshot returns the positions to save: every followed target's, and
// every one kept for a target not followed now.
func (f *Follower) snapshot(now time.Time) []Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Position, 0, len(f.chains)+len(f.positions))
	add := func(key string, p *position, seen time.Time) {
		n, fp, off, ok := p.current()
		if !ok {
			return
		}
		out = append(out, Position{
			Key: key, File: n, Path: p.path, Fingerprint: fp, Offset: off,
			LastSeen: seen.UTC(), AtEnd: p.atEnd(n, off), LastFile: p.lastFile(), Later: p.laterFiles(),
		})
	}
	for key, c := range f.chains {
		add(key, c.pos, now)
	}
	for key, p := range f.positions {
		add(key, p, p.lastSeen)
	}
	return out
}

// save writes the checkpoint; it is the Flusher's save function.
func (f *Follower) save() error {
	return f.o.Store.Save(f.snapshot(time.Now()))
}

// load reads the checkpoint into positions and reports whether one existed.
func (f *Follower) load() (bool, error) {
	ps, existed, err := f.o.Store.Load()
	if err != nil {
		return false, err
	}
	f.removeStaleTemps()
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range ps {
		if e.Key == "" {
			continue
		}
		seen := e.LastSeen
		if seen.IsZero() {
			seen = now
		}
		p := &position{path: e.Path, lastSeen: seen, loadedAtEnd: e.AtEnd, loadedLast: e.LastFile, later: e.Later}
		p.add(e.File, tail.NewProgress(e.Fingerprint, e.Offset, nil, nil))
		f.positions[e.Key] = p
	}
	f.log.Debug("loaded checkpoint", "path", f.o.Store.Path(), "positions", len(ps))
	return existed, nil
}

// prunePositions forgets the positions of targets gone for longer than
// checkpoint_retention. A position is kept while a group names its target,
// or while the directory of its Numbered target exists (a stream read to
// its end and released, or no longer selected, whose allocation stays).
func (f *Follower) prunePositions(now time.Time) {
	f.mu.Lock()
	var dirs []string
	for key, p := range f.positions {
		// Only the directories of positions no live group names are
		// looked at: a node's thousand followed streams cost no stat.
		if p.dir != "" && !f.named(key) {
			dirs = append(dirs, p.dir)
		}
	}
	f.mu.Unlock()
	exists := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		if _, ok := exists[d]; !ok {
			fi, err := os.Stat(d)
			exists[d] = err == nil && fi.IsDir()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for key, p := range f.positions {
		if f.named(key) || exists[p.dir] {
			p.lastSeen = now
			continue
		}
		if now.Sub(p.lastSeen) > f.o.CheckpointRetention {
			delete(f.positions, key)
			f.flusher.Mark()
			f.log.Debug("forgetting the position of a target gone for longer than checkpoint_retention", "key", key)
		}
	}
}

// named reports whether a live group names the target of key.
func (f *Follower) named(key string) bool {
	g := f.groupOf[key]
	return g != nil && !g.gone && g.targets[key]
}
