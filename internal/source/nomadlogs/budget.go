package nomadlogs

import (
	"errors"
	"log/slog"
	"time"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/tail"
)

// The open-file budget (max_open_files, see tail.Budget). A node can run
// thousands of task streams, most of them idle (stderr of a quiet service)
// and each holding a descriptor. Within the budget:
//
//   - Only the file of a stream that has no other file open, is read to its
//     end, holds no unfinished line, has its metadata and may still be
//     written is parked: the newest file of an idle stream. logmon purges
//     a file only after max_files newer ones exist, and the stream's next
//     file is seen (and the parked one reopened to finish it) long before.
//   - A parked file is checked through its path at every poll (fsnotify's
//     write events wake it at once) and reopened by identity when it
//     changed.
//   - The newest file of a stream that has no file open may wait for room
//     when every open file has unread data (counted as deferred). Any
//     other file (older ones, the next file of a stream being read, the
//     files of a stream that will not be written any more) is opened at
//     once, beyond the budget if need be (counted as over budget), since
//     logmon may purge it, garbage collection take it, or its stream
//     cannot go on without it: data first, descriptors second. A stream
//     is never released while a file of it waits.
//
// What the budget can cost: a parked file that is written and then deleted
// before the source reopens it (the allocation garbage-collected within
// moments of its last write) loses those last lines; with fsnotify that
// window is the milliseconds it takes to notice the write. Such files are
// counted in drover_files_vanished_total.

// newBudget makes the source's budget.
func newBudget(cfg *Config, m *metrics.Component, log *slog.Logger) (*tail.Budget, error) {
	n := cfg.MaxOpenFiles
	if n == 0 {
		n = tail.DefaultMaxOpenFiles()
	}
	return tail.NewBudget(n, m, log)
}

// roomFor makes room for a file of st to open and reports whether to
// open it now. Only the newest file of a live stream that has no file
// open may wait for room (queued: retryWaiting opens it as soon as there
// is room). Any other is opened at once, beyond the budget if need be:
// logmon may purge a file that is not the newest, garbage collection may
// take the files of a stream that will not be written any more, and a
// stream that reads file N cannot finish it before N+1 is open (N may
// hold the head of a line that N+1 ends, which keeps N from being
// parked).
func (s *Source) roomFor(st *stream, newest bool) bool {
	mayWait := newest && st.endAt.IsZero() && len(st.files) == 0
	if mayWait && st.waitingRoom {
		return false // its turn comes in retryWaiting
	}
	if s.budget.Room() {
		return true
	}
	if !mayWait {
		s.budget.Over()
		return true
	}
	if !st.waitingRoom {
		st.waitingRoom = true
		s.waiting = append(s.waiting, st)
		s.budget.Deferred()
	}
	return false
}

// retryWaiting opens the files of the streams that wait for room, in the
// order they began to wait, while there is room (or a file to park).
func (s *Source) retryWaiting(now time.Time) {
	for len(s.waiting) > 0 && s.budget.Spare() {
		st := s.waiting[0]
		s.waiting[0] = nil
		s.waiting = s.waiting[1:]
		st.waitingRoom = false
		if st.closed {
			continue
		}
		files, err := nomad.ListLogFiles(st.logsDir, st.id.task, st.id.stream)
		if err != nil {
			continue // its directory is gone: the next scan says what became of it
		}
		s.attach(st, files, now)
		if st.waitingRoom {
			return // it waits again: no room after all
		}
	}
}

// parkable is the source's consent to park cf: the only open file of a
// stream that reads (metadata known) and may still be written.
func parkable(st *stream, cf *chainFile) bool {
	return st.ready && !st.closed && st.endAt.IsZero() && len(st.files) == 1 && st.files[0] == cf
}

// unpark handles a stream whose current file is parked, when it is due:
// the file stays parked while it is unchanged and the stream has nothing
// else to do, and is reopened when it changed, moved, when the stream has
// a newer file (this one must be finished) or will be written no more.
// open reports that service goes on with the stream; replaced, that the
// file's content was replaced while it was parked (read it again from
// the beginning). A file that is gone is dropped from the chain: it was
// parked at its end, so only what was written after that is lost.
func (s *Source) unpark(st *stream, now time.Time) (open, replaced bool) {
	cur := st.files[0]
	changed, moved, err := cur.r.CheckParked(cur.r.Path())
	if err != nil {
		s.readFailed(st, err)
		s.schedule(st, now, false)
		return false, false
	}
	if !changed && !moved && len(st.files) == 1 && st.endAt.IsZero() {
		s.schedule(st, now, false)
		return false, false
	}
	err = cur.slot.Reopen(cur.r.Path())
	if err == nil || errors.Is(err, tail.ErrReplaced) {
		cur.writtenParked = false
	}
	switch {
	case errors.Is(err, tail.ErrVanished):
		if changed || cur.writtenParked {
			// Written after it was parked, then deleted (its allocation
			// garbage-collected) before it could be opened again.
			s.losses.Add(tail.LostWrittenWhileParked, 1)
			s.log.Warn("task log file closed by max_open_files was written and then deleted before drover could open it again; the lines written since it was closed are lost (raise max_open_files)",
				"alloc_id", st.id.alloc, "task", st.id.task, "stream", st.id.stream, "file", cur.n, "offset", cur.r.Offset())
		} else {
			s.log.Debug("task log file closed by max_open_files is gone; nothing was seen written to it since it was closed",
				"file", cur.r.Path())
		}
		s.mu.Lock()
		cur.fp.end = cur.r.LineStart()
		s.mu.Unlock()
		_ = cur.slot.Close()
		st.files[0] = nil
		st.files = st.files[1:]
		if len(st.files) == 0 && st.endAt.IsZero() {
			st.endAt = now // its directory is gone (garbage collection)
		}
		s.flusher.Mark()
		st.poll.Next = now
		return false, false
	case errors.Is(err, tail.ErrReplaced):
		return true, true
	case err != nil:
		s.readFailed(st, err)
		s.schedule(st, now, false)
		return false, false
	}
	return true, false
}
