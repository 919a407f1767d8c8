package follow

import (
	"slices"
	"strings"

	"github.com/drover-dev/drover/internal/tail"
)

// lost logs and counts files of a chain that were deleted before the
// follower could read them. The next file opened does not continue the
// line the current one ends with.
func (f *Follower) lost(c *chain, from, to uint64, why string) {
	c.gap = true
	f.m.Errors("purged").Add(float64(to - from + 1))
	f.losses.Add(tail.LostPurged, to-from+1)
	msg := f.o.Words.File + "s were deleted before drover read them; their lines are lost"
	if f.o.Words.PurgedAdvice != "" {
		msg += " " + f.o.Words.PurgedAdvice
	}
	f.log.Error(msg, c.with("first_file", from, "last_file", to, "reason", why)...)
}

// reportUnreadDeleted logs and counts, as the follower stops, the files of
// a chain that are deleted (rotated away, or garbage-collected with their
// allocation) and not read to their end: only the open descriptor kept
// them, so their unread lines are lost when it is closed.
func (f *Follower) reportUnreadDeleted(c *chain) {
	var first, last uint64
	var unread int64
	for _, cf := range c.files {
		// Only the file being read is checked as it is read: the later
		// ones of the chain may have been deleted (and grown) unseen.
		if st, err := cf.r.Stat(); err == nil {
			cf.deleted = cf.deleted || st.Deleted
		}
		if !cf.deleted || cf.r.Behind() == 0 {
			continue
		}
		if unread == 0 {
			first = cf.n
		}
		last = cf.n
		unread += cf.r.Behind()
	}
	if unread == 0 {
		return
	}
	f.m.Errors("purged").Add(float64(last - first + 1))
	f.losses.Add(tail.LostDeletedUnread, last-first+1)
	f.log.Error(f.o.Words.File+"s were deleted and drover stops before it read them to their end; their unread lines are lost",
		c.with("first_file", first, "last_file", last, "unread_bytes", unread)...)
}

// reportGoneWhileDown reports, once the first full set was applied, the
// saved positions of targets it does not name (gone while drover was not
// running: an allocation garbage-collected, a file deleted) that were not
// at their end: the lines drover had seen and not delivered are lost. A
// position at its end lost nothing drover had seen; a checkpoint of the
// first release does not say.
func (f *Follower) reportGoneWhileDown() {
	type gone struct {
		key  string
		n    uint64
		off  int64
		path string
	}
	var lost []gone
	f.mu.Lock()
	for key, p := range f.positions {
		if p.goneReported || p.loadedAtEnd == nil || *p.loadedAtEnd {
			continue
		}
		p.goneReported = true
		p.loadedAtEnd = &yes // accounted for: not reported again by later runs
		if n, _, off, ok := p.current(); ok {
			lost = append(lost, gone{key: key, n: n, off: off, path: p.path})
		}
	}
	f.mu.Unlock()
	if len(lost) == 0 {
		return
	}
	f.flusher.Mark()
	slices.SortFunc(lost, func(a, b gone) int { return strings.Compare(a.key, b.key) })
	for _, g := range lost {
		f.losses.Add(tail.LostGoneWhileDown, 1)
		var attrs []any
		switch {
		case g.path != "": // a Logrotate file: its path names it
			attrs = []any{"file", g.path, "offset", g.off}
		case f.o.KeyAttrs != nil:
			attrs = append(f.o.KeyAttrs(g.key), "file", g.n, "offset", g.off)
		default:
			attrs = []any{"key", g.key, "file", g.n, "offset", g.off}
		}
		f.log.Error(f.o.Words.GoneWhileDown, attrs...)
	}
}
