package tail

import "time"

// Polling of followed files that have no new data: the next poll (an
// fstat, and a read when the file grew) comes after a backoff that doubles
// from MinPoll up to MaxPollWatched when fsnotify reports the file's
// writes (they wake it at once: the poll is only the safety net under a
// lost event, and a thousand idle files polled every second would cost
// more than everything else an idle node does), or MaxPollUnwatched when
// nothing does.
const (
	MinPoll          = 25 * time.Millisecond
	MaxPollWatched   = 10 * time.Second
	MaxPollUnwatched = 250 * time.Millisecond
)

// PollGrid aligns the polls that follow a backoff: their time is rounded
// up to a multiple of PollGrid on the wall clock, so that the polls of
// many idle files fall on the same instants and a source serves them in
// one pass over its files instead of one pass per file. It delays a poll
// by less than PollGrid. Backoffs of a second or more are rounded up to
// LongPollGrid instead: one pass a second serves every idle file.
const (
	PollGrid     = MinPoll
	LongPollGrid = time.Second
)

// Poll is when a followed file is to be read next. The zero Poll is due
// at once.
type Poll struct {
	// Next is when the file is due.
	Next    time.Time
	backoff time.Duration
}

// Schedule sets Next after a poll at now: now again when the poll read
// data, else after the backoff (see MinPoll) rounded up to PollGrid, and
// never later than the deadline of the unfinished line r holds (r may be
// nil).
func (p *Poll) Schedule(now time.Time, gotData, watched bool, r *Reader) {
	if gotData {
		p.backoff = 0
		p.Next = now
		return
	}
	maxPoll := MaxPollUnwatched
	if watched {
		maxPoll = MaxPollWatched
	}
	p.backoff = min(max(2*p.backoff, MinPoll), maxPoll)
	grid := PollGrid
	if p.backoff >= LongPollGrid {
		grid = LongPollGrid
	}
	p.Next = alignUp(now.Add(p.backoff), grid)
	if r == nil {
		return
	}
	if dl, ok := r.PartialDeadline(); ok && dl.Before(p.Next) {
		p.Next = dl
	}
}

// Due reports whether the file is due at now.
func (p *Poll) Due(now time.Time) bool { return !now.Before(p.Next) }

// alignUp rounds t up to a multiple of grid.
func alignUp(t time.Time, grid time.Duration) time.Time {
	if r := t.Sub(t.Truncate(grid)); r > 0 {
		return t.Add(grid - r)
	}
	return t
}
