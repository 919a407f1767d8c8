package follow

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/tail"
)

// pollAt is a poll due at t.
func pollAt(t time.Time) tail.Poll { return tail.Poll{Next: t} }

// scanAll finds the files of every target (the safety net under fsnotify)
// and forgets the positions of targets gone for longer than
// checkpoint_retention. The first scan after the first full set decides
// where its targets start (read_from), reports the saved positions of
// targets that went away while drover was not running, and saves.
//
// Unless deep, the directories fsnotify watches are left out: their
// changes are reported as they happen (a lost event asks for a deep scan),
// and listing a thousand directories every scan_interval is most of what
// an idle node costs. The run loop asks for a deep scan every
// watchedScanInterval. A directory whose files are symlinks out of it
// (docker's json-file behind cri-dockerd) is scanned every time: docker
// rotates in its own directory, and the symlink, unchanged, brings no
// event.
func (f *Follower) scanAll(now time.Time, deep bool) {
	for dir, cs := range f.byDir {
		if !deep && f.watcher != nil && f.watcher.Watching(dir) && !symlinksOut(cs) {
			continue
		}
		f.scanDir(dir, cs, now)
	}
	if f.initial {
		f.initial = false
		f.startsDone = true
		f.reportGoneWhileDown()
	}
	f.prunePositions(now)
	f.syncWatches()
	f.reportStates()
}

// symlinksOut reports whether a chain of cs follows files through
// symlinks out of their directory, which fsnotify on it does not see
// change.
func symlinksOut(cs []*chain) bool {
	for _, c := range cs {
		if !c.closed && c.k != nil && c.k.symlinked {
			return true
		}
	}
	return false
}

// scanDirs finds the files of the targets in the given directories, and in
// directories below them (a watched ancestor changed: the target's
// directory may have been created).
func (f *Follower) scanDirs(dirs map[string]struct{}, now time.Time) {
	for dir := range dirs {
		if cs := f.byDir[dir]; len(cs) > 0 {
			f.scanDir(dir, cs, now)
		}
		for _, below := range f.waitingFor[dir] {
			if cs := f.byDir[below]; len(cs) > 0 {
				f.scanDir(below, cs, now)
			}
		}
	}
	f.reportStates()
}

// scanDir lists a directory once for its Numbered targets and looks for
// the file of each Logrotate target not open yet.
func (f *Follower) scanDir(dir string, cs []*chain, now time.Time) {
	cs = slices.Clone(cs) // attaching may close chains (lost files, a failed open)
	listed := false
	var byName map[string][]uint64
	for _, c := range cs {
		if c.closed {
			continue
		}
		if c.kube() {
			f.attachKube(c, now)
			continue
		}
		if !c.numbered() {
			if !c.started {
				f.findSingle(c, now)
			}
			continue
		}
		if !listed {
			listed = true
			byName = f.listNumbered(dir)
		}
		f.attach(c, byName[c.t.Name], now)
	}
}

// listNumbered lists the Numbered files in dir: for each name, the numbers
// N of its files <name>.<N>, ascending. Only regular files count (never
// the fifos beside them); a missing directory has none.
func (f *Follower) listNumbered(dir string) map[string][]uint64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			f.openFailed(dir, err)
		}
		return nil
	}
	delete(f.failing, dir)
	out := map[string][]uint64{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name, n, ok := splitNumbered(e.Name())
		if !ok {
			continue
		}
		out[name] = append(out[name], n)
	}
	for _, ns := range out {
		slices.Sort(ns)
	}
	return out
}

// splitNumbered splits "<name>.<N>" into its parts: N is a decimal number
// as logmon writes it (digits only, no sign, no leading zero unless it is
// 0) that fits in a uint64, and name is not empty.
func splitNumbered(base string) (name string, n uint64, ok bool) {
	dot := strings.LastIndexByte(base, '.')
	if dot <= 0 {
		return "", 0, false
	}
	digits := base[dot+1:]
	if digits == "" || len(digits) > 20 || len(digits) > 1 && digits[0] == '0' {
		return "", 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return "", 0, false
	}
	return base[:dot], n, true
}

// find looks for the files of one target now (a target that waits for
// room, a last look before release).
func (f *Follower) find(c *chain, now time.Time) {
	if c.kube() {
		f.attachKube(c, now)
		return
	}
	if c.numbered() {
		f.attach(c, f.listNumbered(c.t.Dir)[c.t.Name], now)
		return
	}
	if !c.started {
		f.findSingle(c, now)
	}
}

// findSingle looks for the file of a Logrotate target: the file at its
// path, when it is still the one the discoverer found. A file older than
// ignore_older without a position is left alone until it changes.
func (f *Follower) findSingle(c *chain, now time.Time) {
	path := c.t.Path()
	fi, err := os.Stat(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			f.openFailed(path, err)
		}
		return // gone: the discoverer says so next
	}
	if id, ok := tail.IDOf(fi); !ok || id != (tail.FileID{Dev: c.t.Dev, Ino: c.t.Ino}) || !fi.Mode().IsRegular() {
		return // another file took the name: the discoverer reports it
	}
	if f.o.IgnoreOlder > 0 && len(c.pos.files) == 0 && c.ignoredSize < 0 && now.Sub(fi.ModTime()) > f.o.IgnoreOlder {
		c.ignoredSize = fi.Size()
		f.log.Debug(f.o.Words.File+" older than ignore_older; not reading it until it changes", "file", path, "modified", fi.ModTime())
		return
	}
	if c.ignoredSize >= 0 && now.Sub(fi.ModTime()) > f.o.IgnoreOlder {
		return // still unchanged
	}
	f.attach(c, []uint64{0}, now)
}

// pathOf is the path of file n of the chain.
func (f *Follower) pathOf(c *chain, n uint64) string {
	if c.numbered() {
		return filepath.Join(c.t.Dir, c.t.Name+"."+strconv.FormatUint(n, 10))
	}
	if c.kube() {
		return c.k.path[n]
	}
	return c.t.Path()
}

// attach opens the chain's files that are not open yet; ns lists the
// numbers of its files on disk, ascending. The first time, it decides
// where the chain starts (see start); later, every file numbered nextN and
// up is opened at its beginning. A gap in the numbers means files were
// created and deleted between two looks: their lines are lost, reported.
func (f *Follower) attach(c *chain, ns []uint64, now time.Time) {
	if c.closed || len(ns) == 0 {
		return
	}
	defer func() { c.pos.seeTip(ns[len(ns)-1], -1) }()
	if !c.started {
		f.start(c, ns, now)
		return
	}
	newest := ns[len(ns)-1]
	for _, n := range ns {
		if n < c.nextN {
			continue
		}
		if n > c.nextN {
			f.lost(c, c.nextN, n-1, "created and purged between two scans")
		}
		if !f.open(c, n, 0, n == newest) {
			return
		}
	}
}

// readFromEnd says whether a chain without a position starts at the end of
// its newest file: read_from = "end", and this is the first look after the
// first full set of a first start (or of every start).
func (f *Follower) readFromEnd() bool {
	return f.o.ReadFrom == ReadFromEnd && f.initial && (f.fresh || f.o.ReadFromEveryStart)
}

// start decides where a chain starts: at its position when it has one
// (files before it are done), else at the beginning of its lowest file, or
// at the end of its newest when read_from says so.
func (f *Follower) start(c *chain, ns []uint64, now time.Time) {
	saved := c.pos
	f.mu.Lock()
	n, fp, off, has := saved.current()
	c.pos = &position{lastSeen: now, path: saved.path}
	f.mu.Unlock()
	c.started = true
	restore := func() {
		f.mu.Lock()
		c.pos = saved
		f.mu.Unlock()
		c.started = false
	}
	switch {
	case has:
		i := 0
		for i < len(ns) && ns[i] < n {
			i++
		}
		rest := ns[i:]
		if len(rest) == 0 {
			// Every file is older than the position: nothing left to read.
			f.mu.Lock()
			c.pos = saved
			f.mu.Unlock()
			c.nextN = n + 1
			return
		}
		if rest[0] != n {
			f.lost(c, n, rest[0]-1, "purged while drover was not reading them")
			c.nextN = rest[0]
			f.openAll(c, rest)
			return
		}
		c.nextN = n
		if !f.openResume(c, n, fp, off, saved.path, len(rest) == 1) {
			// Not opened (the error is logged): keep the position and
			// decide again at the next scan.
			restore()
			return
		}
		f.openAll(c, rest[1:])
	case c.fromEnd || f.readFromEnd():
		last := ns[len(ns)-1]
		c.nextN, c.fromEnd = last, true
		if !f.openAt(c, last, true, func(r *tail.Reader) (int64, string) { return r.Size(), "end" }) {
			restore() // waits for room; it starts at the end then
			return
		}
		f.startsDone = f.startsDone || f.o.ReadFromEveryStart
	default:
		if ns[0] > 0 && c.numbered() && !(f.fresh && f.initial) {
			// A writer numbers a chain's files from 0: the ones before were
			// created and deleted before drover saw the target (while it was
			// not running, or between two scans).
			f.lost(c, 0, ns[0]-1, "created and purged before drover saw the stream")
		}
		c.nextN = ns[0]
		if c.ignoredSize >= 0 {
			// Left alone as too old, and written since: what was added.
			ignored := c.ignoredSize
			if !f.openAt(c, ns[0], len(ns) == 1, func(r *tail.Reader) (int64, string) {
				if ignored <= r.Size() {
					return ignored, "changed_after_ignore_older"
				}
				return 0, "beginning"
			}) {
				restore()
			}
			return
		}
		f.openAll(c, ns)
		if !c.numbered() && len(c.files) == 0 {
			restore() // not opened (logged, or waiting for room): looked for again
			return
		}
		// The next start would apply read_from = "end" to it if its start
		// were not saved.
		f.startsDone = f.startsDone || f.o.ReadFromEveryStart && f.o.ReadFrom == ReadFromEnd
	}
}

// openAll opens files at their beginning, in order, until one fails.
func (f *Follower) openAll(c *chain, ns []uint64) {
	for i, n := range ns {
		if n < c.nextN {
			continue
		}
		if !f.open(c, n, 0, i == len(ns)-1) {
			return
		}
	}
}

// openResume opens file n of the chain at a saved position, when it is
// still the file the position was taken in; else from its beginning.
// newest says that no file of the chain follows it.
func (f *Follower) openResume(c *chain, n uint64, fp tail.Fingerprint, off int64, savedPath string, newest bool) bool {
	return f.openAt(c, n, newest, func(r *tail.Reader) (int64, string) {
		m, err := r.Match(fp, off)
		if err == nil && m == tail.Reused && c.numbered() {
			// Same name in the same directory and the same head: the
			// device number may have changed (a reboot can renumber
			// devices). The name identifies the file.
			if ok, herr := r.HeadMatches(fp); herr == nil && ok && off <= r.Size() {
				m = tail.Resume
			}
		}
		switch {
		case err != nil:
			f.m.Errors("read").Inc()
			f.log.Warn("cannot compare "+f.o.Words.File+" with its checkpoint; reading it from the beginning", "file", r.Path(), "error", err)
			return 0, "beginning"
		case m == tail.Reused && c.numbered():
			f.m.Errors("checkpoint_mismatch").Inc()
			f.log.Warn(f.o.Words.File+" has other content than at its checkpoint; reading it from the beginning", "file", r.Path())
			return 0, "beginning"
		case m == tail.Reused:
			f.m.Errors("inode_reused").Inc()
			f.log.Warn(f.o.Words.File+" has the device and inode of a checkpointed file but other content (inode reused); reading it from the beginning",
				"file", r.Path(), "checkpointed_path", savedPath)
			return 0, "beginning"
		case m == tail.Truncated:
			f.m.Errors("file_truncated").Inc()
			f.log.Warn(f.o.Words.File+" is shorter than its checkpoint (truncated); reading it from the beginning", "file", r.Path(),
				"checkpoint_offset", off, "size", r.Size())
			return 0, "beginning"
		}
		return off, "checkpoint"
	})
}

// open opens file n of the chain at offset start; newest says that no file
// of the chain follows it.
func (f *Follower) open(c *chain, n uint64, start int64, newest bool) bool {
	return f.openAt(c, n, newest, func(*tail.Reader) (int64, string) { return start, "beginning" })
}

// openAt opens file n of the chain, starting at the offset startAt returns
// (with why, for the log), and appends it to the chain. A Numbered file
// that is gone already counts as lost and is skipped (true); a file that
// cannot be opened is logged and retried at the next scan (false: files
// after it must wait). Under max_open_files, the newest file of a chain
// may wait for room (false, until there is room); an older one is opened
// at once, beyond the budget if need be, since the writer may delete it
// (see budget.go).
func (f *Follower) openAt(c *chain, n uint64, newest bool, startAt func(*tail.Reader) (int64, string)) bool {
	if !f.roomFor(c, newest) {
		return false
	}
	path := f.pathOf(c, n)
	hook := &commitHook{c: c, mark: f.flusher.Mark, clock: &f.board.clock}
	r, err := tail.Open(path, tail.Options{
		MaxLineBytes:       f.o.MaxLineBytes,
		MaxBatchEvents:     tail.DefaultMaxBatchEvents,
		PartialLineTimeout: f.o.PartialLineTimeout,
		Meta:               c.meta,
		AppendOnly:         c.numbered(),
		Inflight:           f.inflight,
		OnCommit:           hook.run,
		Logger:             f.log,
		Metrics:            f.m,
	})
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist) && c.numbered():
			f.lost(c, n, n, "deleted before it could be opened")
			c.nextN = n + 1
			return true
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, tail.ErrNotRegular):
			// Replaced or gone since it was found: the next look says.
		default:
			f.openFailed(path, err)
		}
		return false
	}
	if c.kube() && r.ID() != c.k.id[n] || c.t.Scheme == discovery.Logrotate && r.ID() != (tail.FileID{Dev: c.t.Dev, Ino: c.t.Ino}) {
		_ = r.Close() // another file took the name since: the discoverer reports it
		return false
	}
	if msg, ok := f.failing[path]; ok {
		delete(f.failing, path)
		f.log.Info(f.o.Words.File+" can be opened now", "file", path, "previous_error", msg)
	}
	start, how := startAt(r)
	r.Start(start)
	hook.armed.Store(true)
	f.mu.Lock()
	fp := c.pos.add(n, r.Progress())
	switch {
	case c.numbered():
		c.pos.dir, c.pos.name = c.t.Dir, c.t.Name
	case !c.kube() || len(c.pos.files) == 1:
		// A Kubernetes position keeps the path of its first file: where
		// a chain whose file is gone resumes (kube.go).
		c.pos.path = path
	}
	f.mu.Unlock()
	c.pos.seeTip(n, r.Size())
	cf := &chainFile{n: n, r: r, fp: fp, afterGap: c.gap}
	cf.slot = f.budget.Track(r, func() bool { return parkable(c, cf) })
	c.files = append(c.files, cf)
	c.gap = false
	c.nextN = n + 1
	c.started = true
	c.ignoredSize = -1
	c.poll.Next = time.Time{}
	c.behind.Set(float64(c.behindBytes()))
	f.byPath[path] = c
	f.flusher.Mark()
	if c.numbered() {
		f.log.Debug("opened "+f.o.Words.File, "file", path, "offset", start)
	} else {
		f.log.Info("following "+f.o.Words.File, "file", path, "offset", start, "start", how)
	}
	return true
}

// openFailed logs and counts an open error once per path until the error
// changes or the file opens.
func (f *Follower) openFailed(path string, err error) {
	msg := err.Error()
	if f.failing[path] == msg {
		return
	}
	f.failing[path] = msg
	f.m.Errors("open").Inc()
	f.log.Error("cannot open "+f.o.Words.File+"; retrying at every scan", "file", path, "error", err)
}
