package batch

import (
	"iter"
	"sync"

	"github.com/drover-dev/drover/internal/event"
)

// Encoder writes the events of a request into its body. AppendEvent is
// called for the request's events in order with n = 0, 1, 2, ... and appends
// the n-th event with whatever framing precedes or follows it; AppendEnd is
// called once when the request is sealed and appends what closes the body.
// Implementations must not keep dst or e. codec.Lines and codec.Array are
// Encoders.
type Encoder interface {
	AppendEvent(dst []byte, e *event.Event, n int) []byte
	AppendEnd(dst []byte, n int) []byte
}

// Outcome is the verdict of one event of a request that the destination
// partly accepted.
type Outcome uint8

const (
	// Accepted: the destination has the event.
	Accepted Outcome = iota
	// Refused: the destination refused the event for good; it is counted as
	// discarded, dead-lettered, and its batch is released as Rejected.
	Refused
	// Retry: the event failed transiently and is sent again.
	Retry
	// Split: the event was in a part of the request that the destination
	// refused as a whole (too large, or a bad request naming no event); it
	// is sent again in a smaller request.
	Split
)

// Request is a group of events sent to the destination together, with
// their encoded body when the sink has an Encoder. A Request belongs to one
// goroutine at a time; after Finish or Resolve it must not be used again.
type Request struct {
	// Body holds the encoded events and the framing, or is empty when the
	// sink has no Encoder. A sender may read it but must not keep it after
	// Send returns.
	Body  []byte
	parts []part
	ends  []int // ends[i] is the end offset of event i in Body
	n     int
	size  int
}

// part is a run of consecutive events of one source batch.
type part struct {
	t      *Ticket
	events []event.Event
}

var requestPool = sync.Pool{New: func() any { return new(Request) }}

// maxPooledBody keeps a request that carried one huge event from pinning
// its buffer in the pool.
const maxPooledBody = 16 << 20

func newRequest() *Request { return requestPool.Get().(*Request) }

func (r *Request) recycle() {
	clear(r.parts)
	r.parts, r.ends = r.parts[:0], r.ends[:0]
	r.Body = r.Body[:0]
	if cap(r.Body) > maxPooledBody {
		r.Body = nil
	}
	r.n, r.size = 0, 0
	requestPool.Put(r)
}

// Len is the number of events in the request.
func (r *Request) Len() int { return r.n }

// Size is the request's size as counted against max_bytes: the length of
// Body with an Encoder, the sum of the message lengths without one.
func (r *Request) Size() int { return r.size }

// Events yields the request's events in order with their index. The
// events belong to their source batches and are read-only.
func (r *Request) Events() iter.Seq2[int, *event.Event] {
	return func(yield func(int, *event.Event) bool) {
		i := 0
		for _, p := range r.parts {
			for j := range p.events {
				if !yield(i, &p.events[j]) {
					return
				}
				i++
			}
		}
	}
}

// Encoded returns the bytes of Body that the Encoder appended for event i,
// framing included (such as the "," before an array element). It returns
// nil without an Encoder.
func (r *Request) Encoded(i int) []byte { return r.EncodedRange(i, i+1) }

// EncodedRange returns the bytes of Body that the Encoder appended for
// events from to to-1, a contiguous part of Body. It returns nil without an
// Encoder or for an empty range.
func (r *Request) EncodedRange(from, to int) []byte {
	if len(r.ends) == 0 || from >= to {
		return nil
	}
	start := 0
	if from > 0 {
		start = r.ends[from-1]
	}
	return r.Body[start:r.ends[to-1]]
}

// Finish gives every event of the request the status s and recycles the
// request.
func (r *Request) Finish(s event.Status) {
	for _, p := range r.parts {
		p.t.Done(len(p.events), s)
	}
	r.recycle()
}

// Resolution is what Resolve made of a request's outcomes.
type Resolution struct {
	// Accepted is the number of events accepted (and released as
	// Delivered).
	Accepted int
	// Retry holds the events to send again, encoded afresh; nil when none.
	Retry *Request
	// Split holds the events to send again in smaller requests, not
	// encoded (see Halve); nil when none.
	Split *Request
	// Refused holds the refused events, not encoded and not released: the
	// caller finishes it (as Rejected once their dead letters are written);
	// nil when none.
	Refused *Request
}

// Resolve applies per-event outcomes, one per event in order: accepted
// events are Delivered at once; the others are returned in new requests
// by outcome, in order, with the tickets of their source batches. r is
// recycled. enc (nil for a sink without an Encoder) encodes the Retry
// request. It panics when len(outcomes) != r.Len().
func (r *Request) Resolve(outcomes []Outcome, enc Encoder) Resolution {
	if len(outcomes) != r.n {
		panic("batch: Resolve needs one outcome per event")
	}
	var res Resolution
	i := 0
	for _, p := range r.parts {
		acc := 0
		runStart, runOutcome := -1, Accepted // the current run of events with an outcome other than Accepted
		flush := func(end int) {
			if runStart < 0 {
				return
			}
			evs := p.events[runStart:end]
			switch runOutcome {
			case Retry:
				res.Retry = res.Retry.appendEvents(p.t, evs, enc)
			case Split:
				res.Split = res.Split.appendEvents(p.t, evs, nil)
			default:
				res.Refused = res.Refused.appendEvents(p.t, evs, nil)
			}
			runStart = -1
		}
		for j := range p.events {
			o := outcomes[i]
			i++
			if runStart >= 0 && o != runOutcome {
				flush(j)
			}
			if o == Accepted {
				acc++
				continue
			}
			if runStart < 0 {
				runStart, runOutcome = j, o
			}
		}
		flush(len(p.events))
		p.t.Done(acc, event.Delivered)
		res.Accepted += acc
	}
	r.recycle()
	if res.Retry != nil && enc != nil {
		res.Retry.Body = enc.AppendEnd(res.Retry.Body, res.Retry.n)
		res.Retry.size = len(res.Retry.Body)
	}
	return res
}

// Halve returns r's events in two requests of half of them each (the
// first half in a, the rest in b), encoded afresh with enc (which may be
// nil), and recycles r. r must hold at least two events.
func (r *Request) Halve(enc Encoder) (a, b *Request) {
	if r.n < 2 {
		panic("batch: Halve needs two events")
	}
	half := r.n / 2
	i := 0
	for _, p := range r.parts {
		evs := p.events
		if i < half {
			k := min(len(evs), half-i)
			a = a.appendEvents(p.t, evs[:k], enc)
			evs = evs[k:]
			i += k
		}
		if len(evs) > 0 {
			b = b.appendEvents(p.t, evs, enc)
			i += len(evs)
		}
	}
	r.recycle()
	for _, q := range []*Request{a, b} {
		if enc != nil {
			q.Body = enc.AppendEnd(q.Body, q.n)
			q.size = len(q.Body)
		}
	}
	return a, b
}

// appendEvents adds events of the batch tracked by t to r, creating r when
// it is nil. There is no size limit: the events came from a request that
// was within it.
func (r *Request) appendEvents(t *Ticket, events []event.Event, enc Encoder) *Request {
	if r == nil {
		r = newRequest()
	}
	for i := range events {
		r.add(&events[i], enc)
	}
	r.parts = append(r.parts, part{t: t, events: events})
	return r
}

// add encodes one event; the caller records the part.
func (r *Request) add(e *event.Event, enc Encoder) {
	if enc != nil {
		r.Body = enc.AppendEvent(r.Body, e, r.n)
		r.ends = append(r.ends, len(r.Body))
		r.size = len(r.Body)
	} else {
		r.size += len(e.Message)
	}
	r.n++
}
