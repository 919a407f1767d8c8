package follow

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/drover-dev/drover/internal/tail"
)

// round serves the chains that are due, once each, starting where the
// previous round stopped, and releases the finished ones. busy reports
// whether any chain had data (another round should follow at once);
// blocked, that reading stopped because the emit queue is full.
func (f *Follower) round(ctx context.Context, now time.Time) (busy, blocked bool, err error) {
	released := false
	n := len(f.order)
	if f.cursor >= n {
		f.cursor = 0
	}
	for k := 0; k < n && !blocked; k++ {
		i := (f.cursor + k) % n
		c := f.order[i]
		if c.closed { // stopped since the last round
			released = true
			continue
		}
		if !c.ready {
			continue
		}
		switch {
		case len(c.files) == 0:
			// Nothing was ever written, or nothing is left open.
			if !c.endAt.IsZero() && !now.Before(c.endAt.Add(f.o.EndIdle)) {
				err = f.maybeRelease(ctx, c, now)
			}
		case !c.poll.Due(now):
		default:
			// A fresh time per chain: a round can take long.
			var got bool
			got, blocked, err = f.service(ctx, c, time.Now().Round(0))
			busy = busy || got
			if blocked {
				f.cursor = i
			}
		}
		released = released || c.closed
		if err != nil {
			break
		}
	}
	if released {
		kept := f.order[:0]
		for _, c := range f.order {
			if !c.closed {
				kept = append(kept, c)
			}
		}
		clear(f.order[len(kept):])
		f.order = kept
		f.reportStates()
	}
	return busy, blocked, err
}

// service reads up to perTargetBudget bytes of a chain, moving on to the
// next file when the current one is complete, and releases the chain when
// it is finished. got reports whether bytes were read, blocked whether it
// stopped because the emit queue is full.
//
// A Numbered writer never writes file N again once it created N+1 (it
// flushes N first), so N is complete when a read that began after N+1 was
// found reaches its end.
func (f *Follower) service(ctx context.Context, c *chain, now time.Time) (got, blocked bool, err error) {
	replaced := false
	if c.files[0].slot.Parked() {
		var open bool
		if open, replaced = f.unpark(c, now); !open {
			return false, false, nil
		}
	}
	read, eof := 0, false
	// A Numbered chain's only file is read before it is looked at: a
	// write is one pread instead of an fstat and a pread (logmon only
	// appends). When the read finds nothing new, the file is looked at
	// (deleted? shorter than the offset?) and read again. While the emit
	// queue is full it is looked at without reading: its state (deleted,
	// bytes behind) must not wait for the sink.
	look := !c.numbered() || len(c.files) > 1 || replaced || !f.hasRoom()
	triedRead := false // the read before the look found nothing
	for read < perTargetBudget {
		cur := c.files[0]
		hadNext := len(c.files) > 1
		readFirst := !look && !hadNext
		look = true
		var status tail.Status
		if !readFirst {
			var serr error
			if status, serr = cur.r.Stat(); serr != nil {
				f.readFailed(c, serr)
				break
			}
			c.pos.seeTip(cur.n, status.Size)
			status.Truncated = status.Truncated || replaced
			replaced = false
			cur.deleted = status.Deleted
			if status.Grew {
				c.lastGrowth = now
			}
			if status.Truncated {
				f.m.Errors("file_truncated").Inc()
				f.log.Warn(f.o.Words.File+" truncated or its content replaced; reading it again from the beginning",
					"file", cur.r.Path(), "offset", cur.r.Offset(), "size", status.Size)
				b, rerr := cur.r.Restart(now)
				if err := f.send(ctx, b); err != nil {
					return read > 0, false, err
				}
				if rerr != nil {
					f.readFailed(c, rerr)
				}
				c.lastGrowth = now
			}
		}
		var n int
		var atEnd, full, failed bool
		if triedRead && !status.Truncated && status.Size <= cur.r.Offset() {
			// The read just before found nothing and the file did not
			// grow since: no second read.
			atEnd = true
		} else {
			triedRead = false
			n, atEnd, full, failed, err = f.readFile(ctx, c, cur, perTargetBudget-read, now)
		}
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
		if readFirst {
			if n == 0 {
				triedRead = true // look at the file, then
				continue
			}
			// The end moved without a Stat: the saved at_end must say so
			// (a Stat marks it through the fingerprint of a short file).
			c.pos.seeTip(cur.n, cur.r.Offset())
			f.flusher.Mark()
		}
		if !hadNext {
			eof = true
			break
		}
		if c.files[1].afterGap && cur.r.Holding() && !f.hasRoom() {
			blocked = true // leave sends the held line: wait for room
			break
		}
		if err := f.leave(ctx, c, now); err != nil {
			return read > 0, false, err
		}
	}
	for _, cf := range c.files[1:] {
		// Keep the sizes (bytes behind) and link counts of the files
		// ahead current.
		if st, err := cf.r.Stat(); err == nil {
			cf.deleted = st.Deleted
			c.pos.seeTip(cf.n, st.Size)
		}
	}
	c.behind.Set(float64(c.behindBytes()))
	if read > 0 {
		c.lastGrowth = now
		c.files[0].slot.Touch()
	}
	c.eof = eof
	if c.onlyFileDeleted() && c.endAt.IsZero() {
		// Its directory is gone (garbage collection) or the file was
		// deleted: nothing more will be written.
		c.endAt = now
	}
	if blocked {
		c.poll.Next = now // due again as soon as there is room
		return read > 0, true, nil
	}
	// A chain read to the end of its last file waits for its next write
	// event when its directory is watched; else data means polling again
	// at once (a writer may be in the middle of a burst).
	watched := f.watchesWrites(c)
	f.schedule(c, now, read > 0 && !(eof && watched))
	if eof && !c.endAt.IsZero() {
		if err := f.maybeRelease(ctx, c, now); err != nil {
			return read > 0, false, err
		}
	}
	return read > 0, false, nil
}

// readFile reads the current file until its end, an error, budget bytes,
// or a full emit queue, and queues the batches.
func (f *Follower) readFile(ctx context.Context, c *chain, cur *chainFile, budget int, now time.Time) (read int, eof, full, failed bool, err error) {
	for read < budget {
		if !f.hasRoom() {
			full = true
			break
		}
		b, n, rerr := cur.r.Read(f.buf, now)
		read += n
		// Set before a full queue stops the reading: the gauge shows how
		// far behind the target is while the sink holds it up.
		c.behind.Set(float64(c.behindBytes()))
		if err := f.send(ctx, b); err != nil {
			return read, false, false, false, err
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				eof = true
			} else {
				failed = true
				f.readFailed(c, rerr)
			}
			break
		}
	}
	if !failed && c.readErr != "" {
		f.log.Info("reading "+f.o.Words.File+" works again", "file", cur.r.Path())
		c.readErr = ""
	}
	return read, eof, full, failed, nil
}

// leave moves a chain from its current file, read to its end, to the next
// one: a line left unfinished at the end continues in the next file (a
// Numbered writer splits long lines at the size limit), and the file is
// closed. When files between the two were lost, the rest of that line is
// lost with them: its head is sent flagged partial, and the next file
// starts on its own.
func (f *Follower) leave(ctx context.Context, c *chain, now time.Time) error {
	cur, next := c.files[0], c.files[1]
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
		if err := f.send(ctx, cur.r.Flush(now)); err != nil {
			return err
		}
		held = false
	}
	f.mu.Lock()
	cur.fp.end = cur.r.LineStart()
	if held {
		cur.fp.joined = next.fp
	}
	if c.kube() {
		c.pos.path = next.r.Path() // where a chain whose file is gone resumes (kube.go)
	}
	f.mu.Unlock()
	f.unindexFile(c, cur)
	if err := cur.slot.Close(); err != nil {
		f.log.Warn("closing "+f.o.Words.File, "file", cur.r.Path(), "error", err)
	}
	c.files[0] = nil
	c.files = c.files[1:]
	f.flusher.Mark()
	f.log.Debug(f.o.Words.File+" read to its end; reading the next one", "file", cur.r.Path(), "next", next.r.Path(), "line_continues", held)
	return nil
}

// unindexFile takes file cf of chain c out of byPath, unless another
// open file of the chain has its path: a Kubernetes chain's renamed file
// keeps the path it was opened under (0.log), which is the path of the
// new live file too, whose write events must still find the chain.
func (f *Follower) unindexFile(c *chain, cf *chainFile) {
	p := cf.r.Path()
	if f.byPath[p] != c {
		return
	}
	for _, o := range c.files {
		if o != cf && o.r.Path() == p {
			return
		}
	}
	delete(f.byPath, p)
}

// maybeRelease releases a chain that will not be written any more once its
// last file stayed unchanged at its end for EndIdle, after a last look for
// newer files.
func (f *Follower) maybeRelease(ctx context.Context, c *chain, now time.Time) error {
	quiet := c.endAt
	if c.lastGrowth.After(quiet) {
		quiet = c.lastGrowth
	}
	if now.Sub(quiet) < f.o.EndIdle {
		c.poll.Next = minTime(c.poll.Next, quiet.Add(f.o.EndIdle))
		return nil
	}
	if !c.gone && c.kube() {
		before := len(c.files)
		f.attachKube(c, now)
		if len(c.files) != before || f.kubePending(c) {
			c.poll.Next = now
			return nil
		}
	}
	if !c.gone && c.numbered() {
		ns := f.listNumbered(c.t.Dir)[c.t.Name]
		before, started := len(c.files), c.started
		f.attach(c, ns, now)
		// Not finished while the listing shows a file it has not opened
		// (one that waits for room, or could not be opened).
		pending := len(ns) > 0 && (!c.started || ns[len(ns)-1] >= c.nextN)
		if len(c.files) != before || c.started != started || pending {
			c.poll.Next = now
			return nil
		}
	}
	if !f.hasRoom() {
		c.poll.Next = now // the held line's batch must wait for room
		return nil
	}
	return f.release(ctx, c, now)
}

// release ends a finished chain: a held unfinished line is sent flagged
// partial, the files are closed, and the position is kept (so that the
// target is not read again while its group stays terminal, nor after a
// restart); a deleted Logrotate file's position is dropped (its inode will
// be reused by another file).
func (f *Follower) release(ctx context.Context, c *chain, now time.Time) error {
	deleted := false
	if len(c.files) > 0 {
		cur := c.files[0]
		if err := f.send(ctx, cur.r.Flush(now)); err != nil {
			return err
		}
		f.mu.Lock()
		cur.fp.end = cur.r.LineStart()
		f.mu.Unlock()
		deleted = cur.deleted
	}
	deleted = deleted || c.vanished
	if !c.started {
		f.reportNeverFound(c)
	}
	f.closeFiles(c)
	if gr := f.groupOf[c.key]; gr != nil && gr.chains[c.key] == c && !c.gone {
		gr.released[c.key] = true
	}
	f.forget(c, now, c.numbered() || c.kube() || !deleted)
	if c.numbered() || c.kube() {
		f.log.Info(f.o.Words.Target+" read to its end; released", c.with("terminal", c.terminal, "garbage_collected", c.gone)...)
	} else {
		f.log.Debug("closed "+f.o.Words.File+" that disappeared", "file", c.t.Path(), "deleted", deleted)
	}
	return nil
}

// schedule sets when a chain is polled next (see tail.Poll).
func (f *Follower) schedule(c *chain, now time.Time, gotData bool) {
	var r *tail.Reader
	if len(c.files) > 0 {
		r = c.files[0].r
	}
	c.poll.Schedule(now, gotData, f.watchesWrites(c), r)
}

// readFailed logs and counts a read error once until reading works again
// or the error changes.
func (f *Follower) readFailed(c *chain, err error) {
	if msg := err.Error(); msg != c.readErr {
		c.readErr = msg
		f.m.Errors("read").Inc()
		f.log.Error("reading "+f.o.Words.File+" failed; retrying at every poll", c.with("error", err)...)
	}
}

// rewindFailed makes chains whose batches failed (the previous Run ended
// before they were delivered) read those lines again: a chain reading one
// file goes back to its committed offset through its descriptor; a chain
// of several files is opened again from its position at the next scan.
func (f *Follower) rewindFailed() {
	for _, c := range f.order {
		f.mu.Lock()
		failed := c.pos.failed()
		single := len(c.files) == 1 && len(c.pos.files) == 1 && c.pos.files[0] == c.files[0].fp
		f.mu.Unlock()
		if c.closed || !failed {
			continue
		}
		if single {
			c.files[0].r.Rewind()
			c.wake = true // a parked file must be reopened to read them
			c.poll.Next = time.Time{}
			f.log.Info("reading again data whose delivery failed", c.with("file", c.files[0].r.Path(), "offset", c.files[0].r.Offset())...)
			continue
		}
		f.closeFiles(c)
		c.started, c.nextN, c.eof = false, 0, false
		f.log.Info("reading again data whose delivery failed", c.with()...)
	}
}
