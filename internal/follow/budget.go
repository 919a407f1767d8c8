package follow

import (
	"errors"
	"time"

	"github.com/drover-dev/drover/internal/tail"
)

// The open-file budget (max_open_files, see tail.Budget). A node can run
// thousands of targets, most of them idle (stderr of a quiet service),
// each holding a descriptor. Within the budget:
//
//   - Only the file of a chain that has no other file open, is read to its
//     end, holds no unfinished line, has its metadata and may still be
//     written is parked: the newest file of an idle target. A Numbered
//     writer deletes a file only after newer ones exist, and the chain's
//     next file is seen (and the parked one reopened to finish it) long
//     before.
//   - A parked file is checked through its path at every poll (fsnotify's
//     write events wake it at once) and reopened by identity when it
//     changed.
//   - The newest file of a chain that has no file open may wait for room
//     when every open file has unread data (counted as deferred). Any
//     other file (older ones, the next file of a chain being read, the
//     files of a target that will not be written any more) is opened at
//     once, beyond the budget if need be (counted as over budget), since
//     the writer may delete it, garbage collection take it, or its chain
//     cannot go on without it: data first, descriptors second. A target is
//     never released while a file of it waits.
//
// What the budget can cost: a parked file that is written and then deleted
// before the follower reopens it (an allocation garbage-collected within
// moments of its last write) loses those last lines; with fsnotify that
// window is the milliseconds it takes to notice the write. Such losses are
// logged and counted (drover_files_lost_total{reason=
// "written_while_parked"}) when the write was seen.

// roomFor makes room for a file of c to open and reports whether to open
// it now. Only the newest file of a live chain that has no file open may
// wait for room (queued: retryWaiting opens it as soon as there is room).
// Any other is opened at once, beyond the budget if need be.
func (f *Follower) roomFor(c *chain, newest bool) bool {
	mayWait := newest && c.endAt.IsZero() && len(c.files) == 0
	if mayWait && c.waitingRoom {
		return false // its turn comes in retryWaiting
	}
	if f.budget.Room() {
		return true
	}
	if !mayWait {
		f.budget.Over()
		return true
	}
	if !c.waitingRoom {
		c.waitingRoom = true
		f.waiting = append(f.waiting, c)
		f.budget.Deferred()
	}
	return false
}

// retryWaiting opens the files of the chains that wait for room, in the
// order they began to wait, while there is room (or a file to park).
func (f *Follower) retryWaiting(now time.Time) {
	for len(f.waiting) > 0 && f.budget.Spare() {
		c := f.waiting[0]
		f.waiting[0] = nil
		f.waiting = f.waiting[1:]
		c.waitingRoom = false
		if c.closed {
			continue
		}
		f.find(c, now)
		if c.waitingRoom {
			return // it waits again: no room after all
		}
	}
}

// parkable is the follower's consent to park cf: the only open file of a
// chain that reads (metadata known) and may still be written.
func parkable(c *chain, cf *chainFile) bool {
	return c.ready && !c.closed && c.endAt.IsZero() && len(c.files) == 1 && c.files[0] == cf
}

// unpark handles a chain whose current file is parked, when it is due: the
// file stays parked while it is unchanged and the chain has nothing else
// to do, and is reopened when it changed, moved, when the chain has a
// newer file (this one must be finished) or will be written no more.
// open reports that service goes on with the chain; replaced, that the
// file's content was replaced while it was parked (read it again from the
// beginning). A file that is gone is dropped from the chain: it was parked
// at its end, so only what was written after that is lost (reported when
// the write was seen).
func (f *Follower) unpark(c *chain, now time.Time) (open, replaced bool) {
	cur := c.files[0]
	changed, moved, err := cur.r.CheckParked(cur.r.Path())
	if err != nil {
		f.readFailed(c, err)
		f.schedule(c, now, false)
		return false, false
	}
	if !changed && !moved && !c.wake && len(c.files) == 1 && c.endAt.IsZero() {
		f.schedule(c, now, false)
		return false, false
	}
	c.wake = false
	path := cur.r.Path()
	err = cur.slot.Reopen(path)
	if err == nil || errors.Is(err, tail.ErrReplaced) {
		cur.writtenParked = false
	}
	switch {
	case errors.Is(err, tail.ErrVanished):
		if changed || cur.writtenParked {
			// Written after it was parked, then deleted (its allocation
			// garbage-collected) before it could be opened again.
			f.log.Warn(f.o.Words.File+" closed by max_open_files was written and then deleted before drover could open it again; the lines written since it was closed are lost (raise max_open_files)",
				c.with("file", cur.n, "path", path, "offset", cur.r.Offset())...)
			f.losses.Add(tail.LostWrittenWhileParked, 1)
		} else {
			f.log.Debug(f.o.Words.File+" closed by max_open_files is gone; nothing was seen written to it since it was closed", "file", path)
		}
		f.mu.Lock()
		cur.fp.end = cur.r.LineStart()
		f.mu.Unlock()
		f.unindexFile(c, cur)
		_ = cur.slot.Close()
		c.files[0] = nil
		c.files = c.files[1:]
		if len(c.files) == 0 {
			c.vanished = true
			if c.endAt.IsZero() {
				c.endAt = now // its directory is gone (garbage collection)
			}
		}
		f.flusher.Mark()
		c.poll.Next = now
		return false, false
	case errors.Is(err, tail.ErrReplaced):
		return true, true
	case err != nil:
		f.readFailed(c, err)
		f.schedule(c, now, false)
		return false, false
	}
	if cur.r.Path() != path {
		f.log.Debug(f.o.Words.File+" closed by max_open_files was renamed; reopened it", "from", path, "to", cur.r.Path())
	}
	return true, false
}
