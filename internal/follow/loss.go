package follow

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/drover-dev/drover/internal/tail"
)

// lost logs and counts files of a chain that were deleted before the
// follower could read them. The next file opened does not continue the
// line the current one ends with.
func (f *Follower) lost(c *chain, from, to uint64, why string) {
	c.gap = true
	msg := f.o.Words.File + "s were deleted before drover read them; their lines are lost"
	if f.o.Words.PurgedAdvice != "" {
		msg += " " + f.o.Words.PurgedAdvice
	}
	f.log.Error(msg, c.with("first_file", from, "last_file", to, "reason", why)...)
	// Counted after the log line, as every loss: whoever sees the count
	// sees the report.
	f.m.Errors("purged").Add(float64(to - from + 1))
	f.losses.Add(tail.LostPurged, to-from+1)
}

// reportUndelivered logs and counts, as the follower stops, the files of
// a target that are deleted (rotated away, purged, or garbage-collected
// with their allocation) and whose lines were not all acknowledged: not
// read yet, or read and emitted without an acknowledgement (the batches
// left in the emit queue, what a sink had not delivered when the stop's
// wait ran out). Only the follower's descriptors kept those lines, and a
// restart cannot read them again. open maps the position's files that are
// open to their chainFile (nil: none is); the others were read to the end
// the position records and closed, and are deleted when their path is
// gone. attrs name the target.
func (f *Follower) reportUndelivered(p *position, open map[*filePos]*chainFile, attrs []any) {
	f.mu.Lock()
	fps := append([]*filePos(nil), p.files...)
	f.mu.Unlock()
	var first, last uint64
	var lost int64
	for _, fp := range fps {
		committed := fp.prog.Committed()
		var size int64
		var deleted bool
		if cf := open[fp]; cf != nil {
			// Only the file being read is checked as it is read: the later
			// ones of the chain may have been deleted (and grown) unseen.
			if st, err := cf.r.Stat(); err == nil {
				cf.deleted = cf.deleted || st.Deleted
			}
			size, deleted = cf.r.Size(), cf.deleted
		} else {
			if fp.end < 0 {
				continue // never opened by this process
			}
			path := p.filePath(fp.n)
			if path == "" {
				continue
			}
			_, err := os.Stat(path)
			size, deleted = fp.end, errors.Is(err, fs.ErrNotExist)
		}
		if !deleted || size <= committed {
			continue
		}
		if lost == 0 {
			first = fp.n
		}
		last = fp.n
		lost += size - committed
	}
	if lost == 0 {
		return
	}
	f.m.Errors("purged").Add(float64(last - first + 1))
	f.log.Error(f.o.Words.File+"s were deleted and drover stops before it delivered all their lines; the lines it had not delivered are lost",
		append(attrs, "first_file", first, "last_file", last, "undelivered_bytes", lost)...)
	f.losses.Add(tail.LostDeletedUnread, last-first+1)
}

// reportUndeliveredAll reports, as the follower stops, the deleted files
// of every target with lines not delivered (see reportUndelivered): those
// followed, and those released while their last batches were in flight.
func (f *Follower) reportUndeliveredAll() {
	for _, c := range f.order {
		if c.closed {
			continue
		}
		open := make(map[*filePos]*chainFile, len(c.files))
		for _, cf := range c.files {
			open[cf.fp] = cf
		}
		f.reportUndelivered(c.pos, open, c.with())
	}
	f.mu.Lock()
	keys := make([]string, 0, len(f.positions))
	for key := range f.positions {
		keys = append(keys, key)
	}
	f.mu.Unlock()
	slices.Sort(keys)
	for _, key := range keys {
		f.mu.Lock()
		p := f.positions[key]
		f.mu.Unlock()
		var attrs []any
		switch {
		case p.path != "" && p.dir == "":
			attrs = []any{"file", p.path}
		case f.o.KeyAttrs != nil:
			attrs = f.o.KeyAttrs(key)
		default:
			attrs = []any{"key", key}
		}
		f.reportUndelivered(p, nil, attrs)
	}
}

// reportGoneWhileDown reports, once the first full set was applied, the
// saved positions of targets it does not name (gone while drover was not
// running: an allocation garbage-collected, a file deleted) that were not
// at their end: the lines drover had seen and not delivered are lost. A
// position at its end lost nothing drover had seen; a checkpoint of the
// first release does not say.
func (f *Follower) reportGoneWhileDown() {
	type gone struct {
		key         string
		first, last uint64
		path        string
	}
	var lost []gone
	f.mu.Lock()
	for key, p := range f.positions {
		if first, last, ok := p.undelivered(); ok {
			lost = append(lost, gone{key: key, first: first, last: last, path: p.path})
		}
	}
	f.mu.Unlock()
	if len(lost) == 0 {
		return
	}
	f.flusher.Mark()
	slices.SortFunc(lost, func(a, b gone) int { return strings.Compare(a.key, b.key) })
	for _, g := range lost {
		var attrs []any
		switch {
		case g.path != "": // a Logrotate file: its path names it
			attrs = []any{"file", g.path}
		case f.o.KeyAttrs != nil:
			attrs = f.o.KeyAttrs(g.key)
		default:
			attrs = []any{"key", g.key}
		}
		f.reportGone(attrs, g.first, g.last, "gone while drover was not running")
	}
}

// reportNeverFound reports a target released without finding the files
// of the saved position it resumed from, when that position had lines
// drover had not delivered: they were deleted while drover was down or
// before it could open them (an allocation collected as drover started).
func (f *Follower) reportNeverFound(c *chain) {
	f.mu.Lock()
	first, last, ok := c.pos.undelivered()
	f.mu.Unlock()
	if ok {
		f.flusher.Mark()
		f.reportGone(c.with(), first, last, "deleted before drover could open them")
	}
}

// reportGone logs and counts the files first to last of a target, deleted
// with lines drover had seen and not delivered.
func (f *Follower) reportGone(attrs []any, first, last uint64, why string) {
	f.log.Error(f.o.Words.File+"s were deleted before drover read them to their end; the lines it had not delivered are lost",
		append(attrs, "first_file", first, "last_file", last, "reason", why)...)
	// Counted after the log line: whoever sees the count sees the report.
	f.losses.Add(tail.LostGoneWhileDown, 1)
}
