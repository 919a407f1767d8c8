package nomadlogs

import (
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/tail"
)

// stream is one task stream being followed: the chain of files
// <task>.<stream>.<N> of an allocation, read in the order of N. Every file
// of the chain that is not finished is held open, so that logmon's purge
// (max_files) and garbage collection cannot take lines the source has not
// read: a deleted file is read to its end through its descriptor.
type stream struct {
	id      streamID
	logsDir string
	// label names the stream in the bytes-behind gauge:
	// <logs_dir>/<task>.<stream>.
	label  string
	behind prometheus.Gauge

	meta *event.Meta
	// ready: the metadata is decided and the files are read. Streams of an
	// allocation the API has not described yet hold their files open
	// without reading them.
	ready    bool
	pathMeta bool // meta is the path-only metadata

	// started: where the chain starts was decided (the first files were
	// found). files are the open files, oldest first; files[0] is read.
	// Files numbered nextN and up are not opened yet.
	started bool
	files   []*chainFile
	nextN   uint64
	pos     *position

	// gap: files before the next one to open were lost (lost): the next
	// file does not continue the line the current one ends with.
	gap bool
	// fromEnd: the stream starts at the end of its newest file (read_from
	// = "end" at the first start), when there is room to open it.
	fromEnd bool
	// waitingRoom: its newest file waits for room under max_open_files
	// (it is in Source.waiting).
	waitingRoom bool

	poll       tail.Poll // idle streams are polled with a backoff (see tail.Poll)
	lastGrowth time.Time
	eof        bool // the last read reached the end of the last file
	readErr    string

	// terminal and gone mirror the allocation's group; endAt is when the
	// stream was first known to be written no more (terminal, gone, or its
	// only file deleted); zero while it may be written.
	terminal bool
	gone     bool
	endAt    time.Time
	closed   bool
}

// chainFile is one open file of a stream. The budget may park the reader
// of a stream's only file (see budget.go).
type chainFile struct {
	n       uint64
	r       *tail.Reader
	slot    *tail.Slot
	fp      *filePos
	deleted bool
	// afterGap: files before this one were lost, so it does not continue
	// the line the previous open file ends with (see leave).
	afterGap bool
	// writtenParked: fsnotify reported a write to it while it was parked.
	writtenParked bool
}

// onlyFileDeleted reports whether the stream's last open file is deleted
// and nothing follows it.
func (st *stream) onlyFileDeleted() bool {
	return len(st.files) == 1 && st.files[0].deleted
}

// newStream starts following a stream of an allocation. meta nil leaves
// it waiting for its metadata. A position kept for the stream (from the
// checkpoint, or from an earlier time it was followed) is where it
// resumes.
func (s *Source) newStream(a *alloc, id streamID, logsDir string, meta *event.Meta, now time.Time) *stream {
	st := &stream{
		id: id, logsDir: logsDir, meta: meta, ready: meta != nil,
		label:      filepath.Join(logsDir, id.task+"."+string(id.stream)),
		lastGrowth: now, poll: tail.Poll{Next: now},
	}
	st.behind = s.m.BytesBehind(st.label)
	s.mu.Lock()
	st.pos = s.positions[id]
	delete(s.positions, id)
	if st.pos == nil {
		st.pos = &position{}
	}
	s.streams[id] = st
	s.mu.Unlock()
	a.streams[id] = st
	s.order = append(s.order, st)
	s.log.Debug("following task stream", "alloc_id", id.alloc, "task", id.task, "stream", id.stream, "metadata", meta != nil)
	return st
}

// setMeta gives the stream its metadata (for the events read from now on)
// and makes it ready to read.
func (s *Source) setMeta(st *stream, meta *event.Meta, pathOnly bool) {
	st.meta, st.ready, st.pathMeta = meta, true, pathOnly
	for _, f := range st.files {
		f.r.SetPath(f.r.Path(), meta)
	}
	st.poll.Next = time.Time{}
}

// stopStream stops following a stream without reading further: its files
// are closed and its position kept, so that it resumes there if it is
// followed again.
func (s *Source) stopStream(st *stream, why string) {
	s.closeFiles(st)
	s.forget(st, time.Now())
	s.log.Info("stopped following task stream: "+why, "alloc_id", st.id.alloc, "task", st.id.task, "stream", st.id.stream)
}

// forget removes a stream whose files are closed, keeping its position.
func (s *Source) forget(st *stream, now time.Time) {
	st.closed = true
	s.mu.Lock()
	if s.streams[st.id] == st {
		delete(s.streams, st.id)
	}
	if _, _, _, ok := st.pos.current(); ok {
		st.pos.lastSeen = now
		s.positions[st.id] = st.pos
	}
	s.mu.Unlock()
	if a := s.allocs[st.id.alloc]; a != nil && a.streams[st.id] == st {
		delete(a.streams, st.id)
	}
	s.m.ForgetFile(st.label)
	s.flusher.Mark()
}

// closeFiles closes the stream's open files. Their Progress keeps taking
// acknowledgements.
func (s *Source) closeFiles(st *stream) []error {
	var errs []error
	for _, f := range st.files {
		if err := f.slot.Close(); err != nil {
			errs = append(errs, err)
			s.log.Warn("closing task log file", "file", f.r.Path(), "error", err)
		}
	}
	st.files = nil
	return errs
}

// attach opens the stream's files that are not open yet; files lists the
// stream's files on disk, ordered by N. The first time, it decides where
// the chain starts (see start); later, every file numbered nextN and up
// is opened at its beginning. A gap in the numbers means files were
// created and purged between two scans: their lines are lost, counted in
// errors_total{stage="purged"}.
func (s *Source) attach(st *stream, files []nomad.LogFile, now time.Time) {
	if st.closed || len(files) == 0 {
		return
	}
	defer func() { st.pos.seeTip(files[len(files)-1].N, -1) }()
	if !st.started {
		s.start(st, files, now)
		return
	}
	newest := files[len(files)-1].N
	for _, f := range files {
		if f.N < st.nextN {
			continue
		}
		if f.N > st.nextN {
			s.lost(st, st.nextN, f.N-1, "created and purged between two scans")
		}
		if !s.open(st, f.N, 0, f.N == newest) {
			return
		}
	}
}

// start decides where the chain of a stream starts: at its position when
// it has one (files before it are done), else at the beginning of its
// lowest file, or at the end of its highest when read_from = "end" and the
// source starts without any checkpoint.
func (s *Source) start(st *stream, files []nomad.LogFile, now time.Time) {
	saved := st.pos
	s.mu.Lock()
	n, fp, off, has := saved.current()
	st.pos = &position{lastSeen: now}
	s.mu.Unlock()
	st.started = true
	switch {
	case has:
		i := 0
		for i < len(files) && files[i].N < n {
			i++
		}
		rest := files[i:]
		if len(rest) == 0 {
			// Every file is older than the position: nothing left to read.
			s.mu.Lock()
			st.pos = saved
			s.mu.Unlock()
			st.nextN = n + 1
			return
		}
		if rest[0].N != n {
			s.lost(st, n, rest[0].N-1, "purged while drover was not reading them")
			st.nextN = rest[0].N
			s.openAll(st, rest)
			return
		}
		st.nextN = n
		if !s.openResume(st, n, fp, off, len(rest) == 1) {
			// Not opened (the error is logged): keep the position and
			// decide again at the next scan.
			s.mu.Lock()
			st.pos = saved
			s.mu.Unlock()
			st.started = false
			return
		}
		s.openAll(st, rest[1:])
	case st.fromEnd || s.fresh && !s.scanned && s.cfg.ReadFrom == ReadFromEnd:
		last := files[len(files)-1]
		st.nextN, st.fromEnd = last.N, true
		if !s.open(st, last.N, -1, true) {
			st.started = false // waits for room; it starts at the end then
			s.mu.Lock()
			st.pos = saved
			s.mu.Unlock()
		}
	default:
		if files[0].N > 0 && (!s.fresh || s.scanned) {
			// logmon numbers a stream's files from 0: the ones before
			// were created and deleted before drover saw the stream (while
			// it was not running, or between two scans).
			s.lost(st, 0, files[0].N-1, "created and purged before drover saw the stream")
		}
		st.nextN = files[0].N
		s.openAll(st, files)
	}
}

// openAll opens files at their beginning, in order, until one fails.
func (s *Source) openAll(st *stream, files []nomad.LogFile) {
	for i, f := range files {
		if f.N < st.nextN {
			continue
		}
		if !s.open(st, f.N, 0, i == len(files)-1) {
			return
		}
	}
}

// openResume opens file n of the stream at a saved position, when it is
// still the file the position was taken in; else from its beginning.
// newest says that no file of the stream follows it (see openWith).
func (s *Source) openResume(st *stream, n uint64, fp tail.Fingerprint, off int64, newest bool) bool {
	return s.openWith(st, n, newest, func(r *tail.Reader) int64 {
		m, err := r.Match(fp, off)
		if err == nil && m == tail.Reused {
			// Same name in the same allocation and the same head: the
			// device number may have changed (a reboot can renumber
			// devices). The name identifies the file.
			if ok, herr := r.HeadMatches(fp); herr == nil && ok && off <= r.Size() {
				m = tail.Resume
			}
		}
		switch {
		case err != nil:
			s.m.Errors("read").Inc()
			s.log.Warn("cannot compare task log file with its checkpoint; reading it from the beginning", "file", r.Path(), "error", err)
			return 0
		case m == tail.Reused:
			s.m.Errors("checkpoint_mismatch").Inc()
			s.log.Warn("task log file has other content than at its checkpoint; reading it from the beginning", "file", r.Path())
			return 0
		case m == tail.Truncated:
			s.m.Errors("file_truncated").Inc()
			s.log.Warn("task log file is shorter than its checkpoint; reading it from the beginning", "file", r.Path(),
				"checkpoint_offset", off, "size", r.Size())
			return 0
		}
		return off
	})
}

// open opens file n of the stream at offset start (-1: at its end);
// newest says that no file of the stream follows it (see openWith).
func (s *Source) open(st *stream, n uint64, start int64, newest bool) bool {
	return s.openWith(st, n, newest, func(r *tail.Reader) int64 {
		if start < 0 {
			return r.Size()
		}
		return start
	})
}

// openWith opens file n of the stream, starting at the offset startAt
// returns, and appends it to the chain. A file that is gone already counts
// as lost and is skipped (true); one that cannot be opened is logged and
// retried at the next scan (false: files after it must wait). Under
// max_open_files, the newest file of a stream may wait for room (false,
// until a scan finds room); an older one is opened at once, beyond the
// budget if need be, since logmon may purge it (see budget.go).
func (s *Source) openWith(st *stream, n uint64, newest bool, startAt func(*tail.Reader) int64) bool {
	if !s.roomFor(st, newest) {
		return false
	}
	path := filepath.Join(st.logsDir, nomad.LogFileName(st.id.task, st.id.stream, n))
	r, err := tail.Open(path, tail.Options{
		MaxLineBytes:       int(s.cfg.MaxLineBytes),
		MaxBatchEvents:     tail.DefaultMaxBatchEvents,
		PartialLineTimeout: s.cfg.PartialLineTimeout,
		Meta:               st.meta,
		Inflight:           s.inflight,
		OnCommit:           s.flusher.Mark,
		Logger:             s.log,
		Metrics:            s.m,
	})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.lost(st, n, n, "deleted before it could be opened")
			st.nextN = n + 1
			return true
		}
		if !errors.Is(err, tail.ErrNotRegular) {
			s.openFailed(path, err)
		}
		return false
	}
	if msg, ok := s.failing[path]; ok {
		delete(s.failing, path)
		s.log.Info("task log file can be opened now", "file", path, "previous_error", msg)
	}
	start := startAt(r)
	r.Start(start)
	s.mu.Lock()
	fp := st.pos.add(n, r.Progress())
	s.mu.Unlock()
	st.pos.seeTip(n, r.Size())
	cf := &chainFile{n: n, r: r, fp: fp, afterGap: st.gap}
	cf.slot = s.budget.Track(r, func() bool { return parkable(st, cf) })
	st.files = append(st.files, cf)
	st.gap = false
	st.nextN = n + 1
	st.poll.Next = time.Time{}
	s.flusher.Mark()
	s.log.Debug("opened task log file", "file", path, "offset", start)
	return true
}

// lost logs and counts files of a stream that were deleted before the
// source could read them. The next file opened does not continue the line
// the current one ends with.
func (s *Source) lost(st *stream, from, to uint64, why string) {
	st.gap = true
	s.m.Errors("purged").Add(float64(to - from + 1))
	s.losses.Add(tail.LostPurged, to-from+1)
	s.log.Error("task log files were deleted before drover read them; their lines are lost (raise the task's logs.max_files or max_file_size if drover falls this far behind)",
		"alloc_id", st.id.alloc, "task", st.id.task, "stream", st.id.stream,
		"first_file", from, "last_file", to, "reason", why)
}

// reportUnreadDeleted logs and counts, as the source stops, the files of a
// stream that are deleted (purged, or garbage-collected with their
// allocation) and not read to their end: only the open descriptor kept
// them, so their unread lines are lost when it is closed.
func (s *Source) reportUnreadDeleted(st *stream) {
	var first, last uint64
	var unread int64
	for _, f := range st.files {
		// Only the file being read is checked as it is read: the later
		// ones of the chain may have been deleted (and grown) unseen.
		if status, err := f.r.Stat(); err == nil {
			f.deleted = f.deleted || status.Deleted
		}
		if !f.deleted || f.r.Behind() == 0 {
			continue
		}
		if unread == 0 {
			first = f.n
		}
		last = f.n
		unread += f.r.Behind()
	}
	if unread == 0 {
		return
	}
	s.m.Errors("purged").Add(float64(last - first + 1))
	s.losses.Add(tail.LostDeletedUnread, last-first+1)
	s.log.Error("task log files were deleted and drover stops before it read them to their end; their unread lines are lost",
		"alloc_id", st.id.alloc, "task", st.id.task, "stream", st.id.stream,
		"first_file", first, "last_file", last, "unread_bytes", unread)
}

// openFailed logs and counts an open error once per path until the error
// changes or the file opens.
func (s *Source) openFailed(path string, err error) {
	msg := err.Error()
	if s.failing[path] == msg {
		return
	}
	s.failing[path] = msg
	s.m.Errors("open").Inc()
	s.log.Error("cannot open task log file; retrying at every scan", "file", path, "error", err)
}
