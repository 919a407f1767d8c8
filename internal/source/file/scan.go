package file

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/tail"
)

// candidate is a regular file found by a scan: its paths (more than one for
// hard links, or a symlink and its target) and its Stat.
type candidate struct {
	id    tail.FileID
	paths []string
	fi    fs.FileInfo
}

// scan expands the patterns and reconciles the result with the open files:
// new files are opened, renamed files get their new path, files no longer
// found are marked gone (service closes them once read), and positions of
// files gone for longer than checkpoint_retention are forgotten. opened
// reports whether it opened a file.
func (s *Source) scan(now time.Time) (opened bool) {
	initial := !s.scanned
	s.scanned = true
	paths := s.match.glob()
	present := make(map[string]struct{}, len(paths))
	var cands []*candidate
	byID := map[tail.FileID]*candidate{}
	for _, p := range paths {
		present[p] = struct{}{}
		fi, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if _, lerr := os.Lstat(p); errors.Is(lerr, fs.ErrNotExist) {
					continue // removed since the glob
				}
			}
			s.openFailed(p, err)
			continue
		}
		if !fi.Mode().IsRegular() {
			s.notRegular(p, fi)
			continue
		}
		id, ok := tail.IDOf(fi)
		if !ok {
			s.openFailed(p, errors.New("no inode number on this platform"))
			continue
		}
		if c := byID[id]; c != nil {
			c.paths = append(c.paths, p)
			continue
		}
		c := &candidate{id: id, paths: []string{p}, fi: fi}
		byID[id] = c
		cands = append(cands, c)
	}

	for _, c := range cands {
		if t := s.files[c.id]; t != nil {
			s.stillPresent(t, c, now)
			continue
		}
		opened = s.openNew(c, now, initial) || opened
	}
	for id, t := range s.files {
		if _, ok := byID[id]; !ok && t.goneAt.IsZero() {
			t.goneAt = now
			t.poll.Next = now
			s.log.Debug("file disappeared from its path; reading it to its end", "file", t.path)
		}
	}
	for p := range s.failing {
		if _, ok := present[p]; !ok {
			delete(s.failing, p)
		}
	}
	for p := range s.skipped {
		if _, ok := present[p]; !ok {
			delete(s.skipped, p)
		}
	}
	for id := range s.ignored {
		if _, ok := byID[id]; !ok {
			delete(s.ignored, id)
		}
	}
	s.pruneKnown(byID, now)
	if s.watcher != nil {
		s.watcher.Sync(s.match.watchDirs())
	}
	return opened
}

// stillPresent handles an open file found again, possibly under a new path.
func (s *Source) stillPresent(t *tracked, c *candidate, now time.Time) {
	if !t.goneAt.IsZero() {
		t.goneAt = time.Time{}
		s.log.Debug("file is back", "file", c.paths[0])
	}
	for _, p := range c.paths {
		if p == t.path {
			return
		}
	}
	old, p := t.path, c.paths[0]
	s.mu.Lock()
	t.path = p
	s.mu.Unlock()
	t.r.SetPath(p, s.metaFor(p))
	if s.byPath[old] == t {
		delete(s.byPath, old)
	}
	s.byPath[p] = t
	s.m.ForgetFile(old)
	t.behind = s.m.BytesBehind(p)
	t.poll.Next = now
	s.flusher.Mark()
	s.log.Info("file renamed; following it", "from", old, "to", p)
}

// openNew opens a file that is not open yet and decides where to start.
// It reports whether it opened the file.
func (s *Source) openNew(c *candidate, now time.Time, initial bool) bool {
	p := c.paths[0]
	s.mu.Lock()
	k := s.known[c.id]
	s.mu.Unlock()
	if k == nil && s.cfg.IgnoreOlder > 0 && now.Sub(c.fi.ModTime()) > s.cfg.IgnoreOlder {
		if _, ok := s.ignored[c.id]; !ok {
			s.ignored[c.id] = c.fi.Size()
			s.log.Debug("file older than ignore_older; not reading it until it changes", "file", p,
				"modified", c.fi.ModTime())
		}
		return false
	}
	if !s.budget.Room() {
		// Every open file has unread data: this one waits until some are
		// read to their end (the next scan after that opens it).
		s.budget.Deferred()
		s.deferred = true
		if initial {
			s.lateInitial[c.id] = struct{}{}
		}
		return false
	}
	if _, ok := s.lateInitial[c.id]; ok {
		initial = true // found by the first scan: read_from applies
		delete(s.lateInitial, c.id)
	}
	r, err := tail.Open(p, tail.Options{
		MaxLineBytes:       int(s.cfg.MaxLineBytes),
		MaxBatchEvents:     maxBatchEvents,
		PartialLineTimeout: s.cfg.PartialLineTimeout,
		Meta:               s.metaFor(p),
		Inflight:           s.inflight,
		OnCommit:           s.flusher.Mark,
		Logger:             s.log,
		Metrics:            s.m,
	})
	if err != nil {
		if errors.Is(err, tail.ErrNotRegular) {
			return false // replaced by something else since the Stat
		}
		s.openFailed(p, err)
		return false
	}
	if r.ID() != c.id {
		// Replaced by another file since the Stat; the next scan sees it.
		_ = r.Close()
		return false
	}
	if msg, ok := s.failing[p]; ok {
		delete(s.failing, p)
		s.log.Info("file can be opened now", "file", p, "previous_error", msg)
	}
	start, how := s.startOffset(r, k, initial)
	r.Start(start)
	t := &tracked{r: r, path: p, behind: s.m.BytesBehind(p), poll: tail.Poll{Next: now}, lastGrowth: now}
	// A file that disappeared from its path is being read to its end: if
	// it were parked, it could not be found again.
	t.slot = s.budget.Track(r, func() bool { return t.goneAt.IsZero() })
	t.behind.Set(float64(r.Behind()))
	s.mu.Lock()
	s.files[c.id] = t
	delete(s.known, c.id)
	s.mu.Unlock()
	delete(s.ignored, c.id)
	s.byPath[p] = t
	s.order = append(s.order, t)
	s.flusher.Mark()
	s.log.Info("following file", "file", p, "offset", start, "start", how)
	return true
}

// startOffset decides where a newly opened file starts, and says why.
func (s *Source) startOffset(r *tail.Reader, k *knownFile, initial bool) (int64, string) {
	size := r.Size()
	if k != nil {
		fp, off := k.prog.Snapshot()
		m, err := r.Match(fp, off)
		switch {
		case err != nil:
			s.m.Errors("read").Inc()
			s.log.Warn("cannot compare file with its checkpoint; reading it from the beginning", "file", r.Path(), "error", err)
			return 0, "beginning"
		case m == tail.Reused:
			s.m.Errors("inode_reused").Inc()
			s.log.Warn("file has the device and inode of a checkpointed file but other content (inode reused); reading it from the beginning",
				"file", r.Path(), "checkpointed_path", k.path)
			return 0, "beginning"
		case m == tail.Truncated:
			s.m.Errors("file_truncated").Inc()
			s.log.Warn("file is shorter than its checkpoint (truncated); reading it from the beginning",
				"file", r.Path(), "checkpoint_offset", off, "size", size)
			return 0, "beginning"
		}
		return off, "checkpoint"
	}
	if prev, ok := s.ignored[r.ID()]; ok {
		// It was ignored as too old and changed since: read what was added.
		if prev <= size {
			return prev, "changed_after_ignore_older"
		}
		return 0, "beginning"
	}
	if initial && s.cfg.ReadFrom == ReadFromEnd {
		return size, "end"
	}
	return 0, "beginning"
}

// pruneKnown forgets the positions of files not seen for longer than
// checkpoint_retention, and refreshes those still present.
func (s *Source) pruneKnown(present map[tail.FileID]*candidate, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, k := range s.known {
		if _, ok := present[id]; ok {
			k.lastSeen = now
			continue
		}
		if now.Sub(k.lastSeen) > s.cfg.CheckpointRetention {
			delete(s.known, id)
			s.flusher.Mark()
			s.log.Debug("forgetting position of a file gone for longer than checkpoint_retention", "file", k.path)
		}
	}
}

func (s *Source) openFailed(p string, err error) {
	msg := err.Error()
	if s.failing[p] == msg {
		return
	}
	s.failing[p] = msg
	s.m.Errors("open").Inc()
	s.log.Error("cannot open file; retrying at every scan", "file", p, "error", err)
}

func (s *Source) notRegular(p string, fi fs.FileInfo) {
	if _, ok := s.skipped[p]; ok {
		return
	}
	s.skipped[p] = struct{}{}
	if fi.Mode()&fs.ModeNamedPipe == 0 && !fi.IsDir() {
		s.log.Debug("skipping path that is not a regular file", "file", p, "type", fi.Mode().Type().String())
	}
}

// metaFor builds the shared metadata of the events of the file at p.
func (s *Source) metaFor(p string) *event.Meta {
	return event.NewMeta(s.cctx.ID, event.NewFields(
		event.Field{Key: "file", Value: event.StringValue(p)},
		event.Field{Key: "host", Value: event.StringValue(s.cctx.Host)},
		event.Field{Key: "source_type", Value: event.StringValue("file")},
	))
}
