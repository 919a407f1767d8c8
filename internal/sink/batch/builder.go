package batch

import (
	"github.com/drover-dev/drover/internal/event"
)

// Builder fills one request at a time within the limits of a Config. It is
// used by one goroutine.
type Builder struct {
	cfg  Config
	enc  Encoder
	cur  *Request
	full bool // an event did not fit into cur
}

// NewBuilder returns a Builder with an empty request. enc may be nil: the
// requests then have no Body and their size is the sum of the message
// lengths. cfg must be valid.
func NewBuilder(cfg Config, enc Encoder) *Builder {
	return &Builder{cfg: cfg, enc: enc, cur: newRequest()}
}

// Add adds events of the source batch tracked by t to the open request, in
// order, until the request is full, and returns how many it took. An empty
// request always takes at least one event, however large.
func (b *Builder) Add(t *Ticket, events []event.Event) int {
	taken := 0
	for taken < len(events) && !b.Full() {
		if !b.add(&events[taken]) {
			b.full = true
			break
		}
		taken++
	}
	if taken > 0 {
		b.cur.parts = append(b.cur.parts, part{t: t, events: events[:taken]})
	}
	return taken
}

// add adds e to the open request unless that would take a request that is
// not empty beyond max_bytes. With an Encoder, an event that does not fit
// is encoded and taken out again (it is encoded anew, with other framing,
// as the first event of the next request).
func (b *Builder) add(e *event.Event) bool {
	r, limit := b.cur, int(b.cfg.MaxBytes)
	if b.enc == nil {
		if r.n > 0 && r.size+len(e.Message) > limit {
			return false
		}
		r.size += len(e.Message)
		r.n++
		return true
	}
	before := len(r.Body)
	r.Body = b.enc.AppendEvent(r.Body, e, r.n)
	if r.n > 0 && len(r.Body) > limit {
		r.Body = r.Body[:before]
		return false
	}
	r.ends = append(r.ends, len(r.Body))
	r.size = len(r.Body)
	r.n++
	return true
}

// Len is the number of events in the open request.
func (b *Builder) Len() int { return b.cur.n }

// Full reports whether the open request takes no more events: it holds
// max_events events, reached max_bytes, or refused an event that did not
// fit.
func (b *Builder) Full() bool {
	return b.full || b.cur.n >= b.cfg.MaxEvents || b.cur.size >= int(b.cfg.MaxBytes)
}

// Take seals the open request (the Encoder appends its end) and returns
// it; the Builder starts a new, empty one.
func (b *Builder) Take() *Request {
	r := b.cur
	if b.enc != nil {
		r.Body = b.enc.AppendEnd(r.Body, r.n)
		r.size = len(r.Body)
	}
	b.cur, b.full = newRequest(), false
	return r
}

// Finish gives the events of the open request the status s (Failed when a
// sink stops before sending them) and starts a new, empty one.
func (b *Builder) Finish(s event.Status) {
	b.cur.Finish(s)
	b.cur, b.full = newRequest(), false
}
