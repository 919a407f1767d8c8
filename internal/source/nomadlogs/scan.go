package nomadlogs

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/tail"
)

// scanAll lists the alloc dir and scans every allocation directory in it
// (see scanAlloc): the safety net that finds what fsnotify missed, and the
// way the source finds files while the API is unreachable. Allocations
// whose directory is gone and that have nothing left to read are
// forgotten, and so are the positions of streams gone for longer than
// checkpoint_retention.
func (s *Source) scanAll(now time.Time) {
	entries, err := os.ReadDir(s.allocDir)
	if err != nil {
		if msg := err.Error(); s.failing[s.allocDir] != msg {
			s.failing[s.allocDir] = msg
			s.m.Errors("scan").Inc()
			s.log.Error("cannot list the alloc dir; retrying at every scan", "alloc_dir", s.allocDir, "error", err)
		}
		entries = nil
	} else if msg, ok := s.failing[s.allocDir]; ok {
		delete(s.failing, s.allocDir)
		s.log.Info("the alloc dir can be listed again", "alloc_dir", s.allocDir, "previous_error", msg)
	}
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		if !e.IsDir() || !validAllocDir(e.Name()) {
			continue
		}
		present[e.Name()] = true
		s.scanAlloc(e.Name(), now)
	}
	if err == nil && !s.scanned {
		s.reportGoneWhileDown(present)
	}
	for id, a := range s.allocs {
		if present[id] || len(a.streams) > 0 {
			continue
		}
		// Gone from disk with nothing left to read. Kept: selected
		// allocations still running, whose directory may not exist yet.
		if a.group == nil || a.gone || a.group.Terminal || len(a.group.Targets) == 0 {
			delete(s.allocs, id)
			delete(s.unknown, id)
			s.forgetFailures(filepath.Join(s.allocDir, id))
		}
	}
	for id := range s.watches {
		if !present[id] {
			delete(s.watches, id)
		}
	}
	s.scanned = true
	s.prunePositions(now)
	s.syncWatches()
	s.sm.lag.Set(s.discoveryLag(now))
	s.updateGauges()
}

// reportGoneWhileDown reports, at the first scan, the streams of the
// checkpoint whose allocation directory is gone (garbage collection while
// drover was not running) and whose position was not at their end: the
// lines drover had seen and not delivered are lost. A position at its end
// lost nothing drover had seen; one of the first release's checkpoints
// does not say.
func (s *Source) reportGoneWhileDown(present map[string]bool) {
	type gone struct {
		id  streamID
		n   uint64
		off int64
	}
	var lost []gone
	s.mu.Lock()
	for id, p := range s.positions {
		if present[id.alloc] || p.goneReported || p.loadedAtEnd == nil || *p.loadedAtEnd {
			continue
		}
		p.goneReported = true
		p.loadedAtEnd = &yes // accounted for: not reported again by later runs
		if n, _, off, ok := p.current(); ok {
			lost = append(lost, gone{id: id, n: n, off: off})
		}
	}
	s.mu.Unlock()
	if len(lost) > 0 {
		s.flusher.Mark()
	}
	slices.SortFunc(lost, func(a, b gone) int { return strings.Compare(a.id.String(), b.id.String()) })
	for _, g := range lost {
		s.losses.Add(tail.LostGoneWhileDown, 1)
		s.log.Error("task log files were garbage-collected while drover was not running, before it read them to their end; the lines it had not delivered are lost",
			"alloc_id", g.id.alloc, "task", g.id.task, "stream", g.id.stream, "file", g.n, "offset", g.off)
	}
}

// forgetFailures forgets the errors logged for paths below dir.
func (s *Source) forgetFailures(dir string) {
	for p := range s.failing {
		if strings.HasPrefix(p, dir+string(filepath.Separator)) {
			delete(s.failing, p)
		}
	}
}

// validAllocDir reports whether a name in the alloc dir can be an
// allocation's directory.
func validAllocDir(name string) bool {
	return name != "" && name[0] != '.' && !strings.ContainsAny(name, `/\`)
}

// scanAlloc lists the log directory of one allocation and attaches the
// files found to their streams. Streams of allocations the API has not
// described yet are created waiting for metadata: their files are held
// open at once, so that nothing is lost while the metadata is looked up.
func (s *Source) scanAlloc(allocID string, now time.Time) {
	logsDir := nomad.LogsDir(s.allocDir, allocID)
	entries, err := os.ReadDir(logsDir)
	if err != nil {
		if !os.IsNotExist(err) {
			s.openFailed(logsDir, err)
		}
		s.watchAlloc(allocID, false)
		return
	}
	delete(s.failing, logsDir)
	byStream := map[streamID][]nomad.LogFile{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue // fifos, directories
		}
		lf, ok := nomad.ParseLogFileName(e.Name())
		if !ok {
			continue
		}
		id := streamID{alloc: allocID, task: lf.Task, stream: lf.Stream}
		byStream[id] = append(byStream[id], lf)
	}
	a := s.allocs[allocID]
	s.mu.Lock()
	for id := range byStream {
		if p := s.positions[id]; p != nil {
			p.lastSeen = now
		}
	}
	s.mu.Unlock()
	ids := make([]streamID, 0, len(byStream))
	for id := range byStream {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y streamID) int { return strings.Compare(x.String(), y.String()) })
	for _, id := range ids {
		files := byStream[id]
		slices.SortFunc(files, func(x, y nomad.LogFile) int { return cmp.Compare(x.N, y.N) })
		st := s.streams[id]
		if st == nil {
			if st = s.streamFor(a, id, logsDir, now); st == nil {
				continue
			}
			a = s.allocs[allocID]
		}
		s.attach(st, files, now)
	}
	s.watchAlloc(allocID, true)
}

// streamFor creates the stream for files found on disk, when they are to
// be followed: streams of selected tasks of known allocations (unless
// released), and streams of allocations the API has not described (when
// the task name is selected). nil otherwise.
func (s *Source) streamFor(a *alloc, id streamID, logsDir string, now time.Time) *stream {
	switch {
	case a != nil && a.gone:
		return nil
	case a != nil && a.group != nil:
		t := a.target(id)
		if t == nil || a.group.Terminal && a.released[id] {
			return nil
		}
		st := s.newStream(a, id, logsDir, t.Meta, now)
		st.terminal = a.group.Terminal
		if st.terminal {
			s.endStream(st, now)
		}
		return st
	}
	if !s.pathSel.Selected(nomad.Subject{Task: id.task}) {
		return nil
	}
	if a == nil {
		a = s.allocOf(id.alloc)
		a.firstSeen = now
		s.unknown[id.alloc] = a
		s.log.Debug("log files of an allocation the Nomad API has not described yet; looking it up", "alloc_id", id.alloc)
	}
	if a.pathOnly {
		node, _ := s.w.Node()
		s.sm.pathMeta.Inc()
		return s.newStream(a, id, logsDir, nomad.PathMeta(s.cctx.ID, node, id.alloc, id.task, id.stream), now)
	}
	return s.newStream(a, id, logsDir, nil, now)
}

// watchAlloc records the directories to watch for an allocation: its log
// directory when it exists, else the deepest existing directory on the
// way to it (so that its creation is seen), and nothing for allocations
// with nothing to follow. syncWatches applies the records.
func (s *Source) watchAlloc(allocID string, logsExist bool) {
	if s.watcher == nil {
		return
	}
	a := s.allocs[allocID]
	want := a == nil || len(a.streams) > 0 ||
		a.group != nil && !a.gone && len(a.group.Targets) > 0 && !a.group.Terminal
	if !want {
		delete(s.watches, allocID)
		return
	}
	dir := filepath.Join(s.allocDir, allocID)
	logs := nomad.LogsDir(s.allocDir, allocID)
	switch {
	case logsExist:
		s.watches[allocID] = []string{logs}
	case isDir(filepath.Dir(logs)):
		s.watches[allocID] = []string{filepath.Dir(logs)}
	case isDir(dir):
		s.watches[allocID] = []string{dir}
	default:
		delete(s.watches, allocID)
	}
}

// syncWatches makes fsnotify watch the alloc dir and the recorded
// directories.
func (s *Source) syncWatches() {
	if s.watcher == nil || s.allocDir == "" {
		return
	}
	dirs := []string{s.allocDir}
	for _, ds := range s.watches {
		dirs = append(dirs, ds...)
	}
	s.watcher.Sync(dirs)
}

// takeHints applies fsnotify's hints: streams whose files were written
// are polled now, allocations whose directories changed are marked dirty
// (scanned next), and a change in the alloc dir itself (or lost events)
// asks for a full scan, which the result reports.
func (s *Source) takeHints(now time.Time, dirty map[string]struct{}) (full bool) {
	c := s.watcher.Take()
	for p := range c.Written {
		lf, ok := nomad.ParseLogPath(p)
		if !ok {
			continue
		}
		if st := s.streams[streamID{alloc: lf.AllocID, task: lf.Task, stream: lf.Stream}]; st != nil {
			st.poll.Next = now
			if len(st.files) > 0 && st.files[0].n == lf.N && st.files[0].slot.Parked() {
				st.files[0].writtenParked = true
			}
		}
	}
	if c.Overflow {
		full = true
	}
	if s.allocDir == "" {
		return full
	}
	for d := range c.Dirs {
		if d == s.allocDir {
			full = true
			continue
		}
		rel, err := filepath.Rel(s.allocDir, d)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			continue
		}
		id, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		if validAllocDir(id) {
			dirty[id] = struct{}{}
		}
	}
	return full
}

// discoveryLag is how long ago the Nomad API last answered the watch.
func (s *Source) discoveryLag(now time.Time) float64 {
	last := gaugeValue(s.dm.LastSync)
	if last == 0 {
		return 0
	}
	return max(0, float64(now.UnixNano())/1e9-last)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
