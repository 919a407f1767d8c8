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
	// discarded and its batch is released as Rejected.
	Refused
	// Retry: the event failed transiently and is sent again.
	Retry
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

// Resolve applies per-event outcomes, one per event in order: accepted
// events are Delivered, refused ones Rejected, and the events to retry are
// returned in a new request, encoded afresh with enc (which may be nil for a
// sink without an Encoder), or nil when there are none. It returns how many
// events were accepted and refused, and recycles r. It panics when
// len(outcomes) != r.Len().
func (r *Request) Resolve(outcomes []Outcome, enc Encoder) (next *Request, accepted, refused int) {
	if len(outcomes) != r.n {
		panic("batch: Resolve needs one outcome per event")
	}
	i := 0
	for _, p := range r.parts {
		var acc, ref int
		runStart := -1 // start of the current run of events to retry
		for j := range p.events {
			switch outcomes[i] {
			case Accepted:
				acc++
			case Refused:
				ref++
			default:
				if runStart < 0 {
					runStart = j
				}
				i++
				continue
			}
			if runStart >= 0 {
				next = next.appendRetry(p.t, p.events[runStart:j], enc)
				runStart = -1
			}
			i++
		}
		if runStart >= 0 {
			next = next.appendRetry(p.t, p.events[runStart:], enc)
		}
		p.t.Done(acc, event.Delivered)
		p.t.Done(ref, event.Rejected)
		accepted += acc
		refused += ref
	}
	r.recycle()
	if next != nil && enc != nil {
		next.Body = enc.AppendEnd(next.Body, next.n)
		next.size = len(next.Body)
	}
	return next, accepted, refused
}

// appendRetry adds events to r, creating r when it is nil. There is no size
// limit: the events came from a request that was within it.
func (r *Request) appendRetry(t *Ticket, events []event.Event, enc Encoder) *Request {
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
