package file

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/tail"
)

// round serves every file that is due once. busy reports whether any file
// had data (another round should follow at once).
func (s *Source) round(ctx context.Context, out component.Emitter, now time.Time) (busy bool, err error) {
	for _, t := range s.order {
		if t.closed || !t.poll.Due(now) {
			continue
		}
		// A fresh time per file: a round can block in Emit for long.
		got, err := s.service(ctx, out, t, time.Now().Round(0))
		busy = busy || got
		if err != nil {
			return busy, err
		}
	}
	// Drop the files closed in this round.
	kept := s.order[:0]
	for _, t := range s.order {
		if !t.closed {
			kept = append(kept, t)
		}
	}
	clear(s.order[len(kept):])
	s.order = kept
	return busy, nil
}

// service checks one file, reads up to perFileBudget bytes of it, and closes
// it when it is gone and done. got reports whether bytes were read.
func (s *Source) service(ctx context.Context, out component.Emitter, t *tracked, now time.Time) (got bool, err error) {
	replaced := false
	if t.slot.Parked() {
		var open bool
		if open, replaced, err = s.unpark(ctx, out, t, now); !open || err != nil {
			return false, err
		}
	}
	st, serr := t.r.Stat()
	if serr != nil {
		s.readFailed(t, serr)
		s.schedule(t, now, false)
		return false, nil
	}
	st.Truncated = st.Truncated || replaced
	t.deleted = st.Deleted
	// Set before emitting: while a full sink blocks the emit, the gauge
	// shows how far behind the file is.
	t.behind.Set(float64(t.r.Behind()))
	if st.Grew {
		t.lastGrowth = now
	}
	if st.Truncated {
		s.m.Errors("file_truncated").Inc()
		s.log.Warn("file truncated or its content replaced; reading it again from the beginning",
			"file", t.path, "offset", t.r.Offset(), "size", st.Size)
		b, rerr := t.r.Restart(now)
		if err := s.emit(ctx, out, b); err != nil {
			return false, err
		}
		if rerr != nil {
			s.readFailed(t, rerr)
		}
		t.lastGrowth = now
	}

	read, eof, failed := 0, false, false
	for read < perFileBudget {
		b, n, rerr := t.r.Read(s.buf, now)
		read += n
		t.behind.Set(float64(t.r.Behind()))
		if err := s.emit(ctx, out, b); err != nil {
			return read > 0, err
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				eof = true
			} else {
				failed = true
				s.readFailed(t, rerr)
			}
			break
		}
	}
	if !failed && t.readErr != "" {
		s.log.Info("reading file works again", "file", t.path)
		t.readErr = ""
	}
	t.behind.Set(float64(t.r.Behind()))
	if read > 0 {
		t.lastGrowth = now
		t.slot.Touch()
	}
	s.schedule(t, now, read > 0)

	if !t.goneAt.IsZero() && eof && read == 0 {
		quiet := t.goneAt
		if t.lastGrowth.After(quiet) {
			quiet = t.lastGrowth
		}
		if now.Sub(quiet) >= s.cfg.RotateWait {
			return false, s.closeFile(ctx, out, t, now)
		}
		t.poll.Next = minTime(t.poll.Next, quiet.Add(s.cfg.RotateWait))
	}
	return read > 0, nil
}

// schedule sets when t is polled next (see tail.Poll).
func (s *Source) schedule(t *tracked, now time.Time, gotData bool) {
	t.poll.Schedule(now, gotData, s.watched(t.path), t.r)
}

// watched reports whether fsnotify reports writes to path.
func (s *Source) watched(path string) bool {
	return s.watcher != nil && s.watcher.Watching(dirOf(path))
}

// emit hands b to out and releases the source's own hold of its Ack.
func (s *Source) emit(ctx context.Context, out component.Emitter, b *event.Batch) error {
	return tail.Emit(ctx, out, b, s.m.SentEvents)
}

// closeFile flushes a held line, closes t and keeps its position (unless
// the file is deleted: its inode will be reused by another file).
func (s *Source) closeFile(ctx context.Context, out component.Emitter, t *tracked, now time.Time) error {
	if err := s.emit(ctx, out, t.r.Flush(now)); err != nil {
		return err
	}
	if err := t.slot.Close(); err != nil {
		s.log.Warn("closing file", "file", t.path, "error", err)
	}
	t.closed = true
	s.mu.Lock()
	delete(s.files, t.r.ID())
	if !t.deleted {
		s.known[t.r.ID()] = &knownFile{path: t.path, prog: t.r.Progress(), lastSeen: now}
	}
	s.mu.Unlock()
	if s.byPath[t.path] == t {
		delete(s.byPath, t.path)
	}
	s.m.ForgetFile(t.path)
	s.flusher.Mark()
	s.log.Debug("closed file that disappeared", "file", t.path, "deleted", t.deleted, "offset", t.r.Offset())
	return nil
}

// readFailed logs and counts a read error once until reading works again or
// the error changes.
func (s *Source) readFailed(t *tracked, err error) {
	if msg := err.Error(); msg != t.readErr {
		t.readErr = msg
		s.m.Errors("read").Inc()
		s.log.Error("reading file failed; retrying at every poll", "file", t.path, "error", err)
	}
}

// rewindFailed makes files whose batches failed (the previous Run ended
// before they were delivered) read those bytes again.
func (s *Source) rewindFailed() {
	for _, t := range s.order {
		if t.r.Progress().Failed() {
			t.r.Rewind()
			t.wake = true // a parked file must be reopened to read them
			t.poll.Next = time.Time{}
			s.log.Info("reading again data whose delivery failed", "file", t.path, "offset", t.r.Offset())
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
