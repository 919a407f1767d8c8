package nomadlogs

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/tail"
)

// round serves the streams that are due, once each, starting where the
// previous round stopped, and releases the finished ones. busy reports
// whether any stream had data (another round should follow at once);
// blocked, that reading stopped because the emit queue is full.
func (s *Source) round(ctx context.Context, now time.Time) (busy, blocked bool, err error) {
	released := false
	n := len(s.order)
	if s.cursor >= n {
		s.cursor = 0
	}
	for k := 0; k < n && !blocked; k++ {
		i := (s.cursor + k) % n
		st := s.order[i]
		if st.closed { // stopped since the last round
			released = true
			continue
		}
		if !st.ready {
			continue
		}
		switch {
		case len(st.files) == 0:
			// Nothing was ever written, or nothing is left open.
			if !st.endAt.IsZero() && !now.Before(st.endAt.Add(s.cfg.TerminalIdle)) {
				err = s.maybeRelease(ctx, st, now)
			}
		case !st.poll.Due(now):
		default:
			// A fresh time per stream: a round can take long.
			var got bool
			got, blocked, err = s.service(ctx, st, time.Now().Round(0))
			busy = busy || got
			if blocked {
				s.cursor = i
			}
		}
		released = released || st.closed
		if err != nil {
			break
		}
	}
	if released {
		kept := s.order[:0]
		for _, st := range s.order {
			if !st.closed {
				kept = append(kept, st)
			}
		}
		clear(s.order[len(kept):])
		s.order = kept
		s.updateGauges()
	}
	return busy, blocked, err
}

// service reads up to perStreamBudget bytes of a stream, moving on to the
// next file of the chain when the current one is complete, and releases
// the stream when it is finished. got reports whether bytes were read,
// blocked whether it stopped because the emit queue is full.
//
// logmon never writes file N again once it created N+1 (it flushes N
// first), so N is complete when a read that began after N+1 was found
// reaches its end.
func (s *Source) service(ctx context.Context, st *stream, now time.Time) (got, blocked bool, err error) {
	replaced := false
	if st.files[0].slot.Parked() {
		var open bool
		if open, replaced = s.unpark(st, now); !open {
			return false, false, nil
		}
	}
	read, eof := 0, false
	for read < perStreamBudget {
		cur := st.files[0]
		hadNext := len(st.files) > 1
		status, serr := cur.r.Stat()
		if serr != nil {
			s.readFailed(st, serr)
			break
		}
		st.pos.seeTip(cur.n, status.Size)
		status.Truncated = status.Truncated || replaced
		replaced = false
		cur.deleted = status.Deleted
		if status.Grew {
			st.lastGrowth = now
		}
		if status.Truncated {
			// logmon never truncates; something else did.
			s.m.Errors("file_truncated").Inc()
			s.log.Warn("task log file truncated or its content replaced; reading it again from the beginning",
				"file", cur.r.Path(), "offset", cur.r.Offset(), "size", status.Size)
			b, rerr := cur.r.Restart(now)
			if err := s.send(ctx, b); err != nil {
				return read > 0, false, err
			}
			if rerr != nil {
				s.readFailed(st, rerr)
			}
			st.lastGrowth = now
		}
		n, atEnd, full, failed, err := s.readFile(ctx, st, cur, perStreamBudget-read, now)
		read += n
		if err != nil {
			return read > 0, false, err
		}
		if full {
			blocked = true
			break
		}
		if failed || !atEnd {
			break
		}
		if !hadNext {
			eof = true
			break
		}
		if st.files[1].afterGap && cur.r.Holding() && !s.hasRoom() {
			blocked = true // leave sends the held line: wait for room
			break
		}
		if err := s.leave(ctx, st, now); err != nil {
			return read > 0, false, err
		}
	}
	for _, f := range st.files[1:] {
		// Keep the sizes (bytes behind) and link counts of the files
		// ahead current.
		if fs, err := f.r.Stat(); err == nil {
			f.deleted = fs.Deleted
			st.pos.seeTip(f.n, fs.Size)
		}
	}
	st.behind.Set(float64(behind(st)))
	if read > 0 {
		st.lastGrowth = now
		st.files[0].slot.Touch()
	}
	st.eof = eof
	if st.onlyFileDeleted() && st.endAt.IsZero() {
		// The allocation directory is gone (garbage collection) or the
		// file was deleted: nothing more will be written.
		st.endAt = now
	}
	if blocked {
		st.poll.Next = now // due again as soon as there is room
		return read > 0, true, nil
	}
	s.schedule(st, now, read > 0)
	if eof && !st.endAt.IsZero() {
		if err := s.maybeRelease(ctx, st, now); err != nil {
			return read > 0, false, err
		}
	}
	return read > 0, false, nil
}

// readFile reads the current file until its end, an error, budget bytes,
// or a full emit queue, and queues the batches.
func (s *Source) readFile(ctx context.Context, st *stream, cur *chainFile, budget int, now time.Time) (read int, eof, full, failed bool, err error) {
	for read < budget {
		if !s.hasRoom() {
			full = true
			break
		}
		b, n, rerr := cur.r.Read(s.buf, now)
		read += n
		// Set before a full queue stops the reading: the gauge shows how
		// far behind the stream is while the sink holds it up.
		st.behind.Set(float64(behind(st)))
		if err := s.send(ctx, b); err != nil {
			return read, false, false, false, err
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				eof = true
			} else {
				failed = true
				s.readFailed(st, rerr)
			}
			break
		}
	}
	if !failed && st.readErr != "" {
		s.log.Info("reading task log file works again", "file", cur.r.Path())
		st.readErr = ""
	}
	return read, eof, full, failed, nil
}

// leave moves a stream from its current file, read to its end, to the
// next one: a line left unfinished at the end continues in the next file
// (logmon splits long lines at the size limit), and the file is closed.
// When files between the two were lost, the rest of that line is lost
// with them: its head is sent flagged partial, and the next file starts
// on its own.
func (s *Source) leave(ctx context.Context, st *stream, now time.Time) error {
	cur, next := st.files[0], st.files[1]
	held := cur.r.Holding()
	var err error
	if next.afterGap {
		err = tail.ErrHandOff
	} else {
		err = cur.r.HandOff(next.r)
	}
	if err != nil {
		// Lost files in between, or the next file was read already (which
		// the chain never does): send the line as it is rather than lose
		// it or join it to another line's rest.
		if err := s.send(ctx, cur.r.Flush(now)); err != nil {
			return err
		}
		held = false
	}
	s.mu.Lock()
	cur.fp.end = cur.r.LineStart()
	if held {
		cur.fp.joined = next.fp
	}
	s.mu.Unlock()
	if err := cur.slot.Close(); err != nil {
		s.log.Warn("closing task log file", "file", cur.r.Path(), "error", err)
	}
	st.files[0] = nil
	st.files = st.files[1:]
	s.flusher.Mark()
	s.log.Debug("task log file read to its end; reading the next one", "file", cur.r.Path(), "next", next.r.Path(), "line_continues", held)
	return nil
}

// maybeRelease releases a stream that will not be written any more once
// its last file stayed unchanged at its end for terminal_idle, after a
// last look for newer files.
func (s *Source) maybeRelease(ctx context.Context, st *stream, now time.Time) error {
	quiet := st.endAt
	if st.lastGrowth.After(quiet) {
		quiet = st.lastGrowth
	}
	if now.Sub(quiet) < s.cfg.TerminalIdle {
		st.poll.Next = minTime(st.poll.Next, quiet.Add(s.cfg.TerminalIdle))
		return nil
	}
	if !st.gone {
		files, err := nomad.ListLogFiles(st.logsDir, st.id.task, st.id.stream)
		if err == nil {
			before, started := len(st.files), st.started
			s.attach(st, files, now)
			// Not finished while the listing shows a file it has not
			// opened (one that waits for room, or could not be opened).
			pending := len(files) > 0 && (!st.started || files[len(files)-1].N >= st.nextN)
			if len(st.files) != before || st.started != started || pending {
				st.poll.Next = now
				return nil
			}
		}
	}
	if !s.hasRoom() {
		st.poll.Next = now // the held line's batch must wait for room
		return nil
	}
	return s.release(ctx, st, now)
}

// release ends a finished stream: a held unfinished line is sent flagged
// partial, the files are closed, and the position is kept (so that the
// stream is not read again while its allocation stays terminal, nor after
// a restart).
func (s *Source) release(ctx context.Context, st *stream, now time.Time) error {
	if len(st.files) > 0 {
		cur := st.files[0]
		if err := s.send(ctx, cur.r.Flush(now)); err != nil {
			return err
		}
		s.mu.Lock()
		cur.fp.end = cur.r.LineStart()
		s.mu.Unlock()
	}
	s.closeFiles(st)
	if a := s.allocs[st.id.alloc]; a != nil && !st.gone {
		a.released[st.id] = true
	}
	s.forget(st, now)
	s.log.Info("task stream read to its end; released", "alloc_id", st.id.alloc, "task", st.id.task,
		"stream", st.id.stream, "terminal", st.terminal, "garbage_collected", st.gone)
	return nil
}

// schedule sets when a stream is polled next (see tail.Poll).
func (s *Source) schedule(st *stream, now time.Time, gotData bool) {
	var r *tail.Reader
	if len(st.files) > 0 {
		r = st.files[0].r
	}
	st.poll.Schedule(now, gotData, s.watcher != nil && s.watcher.Watching(st.logsDir), r)
}

// behind is the number of bytes of the stream's open files not read yet.
func behind(st *stream) int64 {
	var n int64
	for _, f := range st.files {
		n += f.r.Behind()
	}
	return n
}

// readFailed logs and counts a read error once until reading works again
// or the error changes.
func (s *Source) readFailed(st *stream, err error) {
	if msg := err.Error(); msg != st.readErr {
		st.readErr = msg
		s.m.Errors("read").Inc()
		s.log.Error("reading task log file failed; retrying at every poll", "stream", st.id.String(), "error", err)
	}
}

// rewindFailed makes streams whose batches failed (the previous Run ended
// before they were delivered) start again from their position: the
// files are reopened at the next scan.
func (s *Source) rewindFailed() {
	for _, st := range s.order {
		s.mu.Lock()
		failed := st.pos.failed()
		s.mu.Unlock()
		if st.closed || !failed {
			continue
		}
		s.closeFiles(st)
		st.started, st.nextN, st.eof = false, 0, false
		s.log.Info("reading again data whose delivery failed", "stream", st.id.String())
	}
}
