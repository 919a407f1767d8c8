package event

import "sync/atomic"

// Ack tracks the consumers that still hold one batch and reports the batch's
// fate to its source once the last of them lets go.
//
// A source creates an Ack with NewAck, which gives the source one hold of its
// own. Whoever hands the batch to another consumer calls Retain first; every
// consumer calls Release exactly once when it is done with the batch. When the
// count reaches zero the callback runs once, with ok=false if any holder
// released with Failed (the batch may not have been delivered everywhere), and
// ok=true otherwise. An Ack is safe for concurrent use.
type Ack struct {
	pending atomic.Int32
	failed  atomic.Bool
	done    func(ok bool)
}

// Status is how a consumer finished with a batch.
type Status uint8

const (
	// Delivered: the consumer has the batch durably (a sink received the
	// destination's acknowledgement, or a disk buffer wrote it).
	Delivered Status = iota
	// Rejected: the destination refused the batch permanently. The consumer
	// counted and logged the discard; the source may move past it, because a
	// retry cannot succeed.
	Rejected
	// Failed: the consumer gave up without a verdict (shutdown timeout, a
	// cancelled send). The source must not move its checkpoint past the batch.
	Failed
)

// String names the status for logs.
func (s Status) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Rejected:
		return "rejected"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// NewAck returns an Ack held once by its creator. done may be nil.
func NewAck(done func(ok bool)) *Ack {
	a := &Ack{done: done}
	a.pending.Store(1)
	return a
}

// Retain adds n holders. It must be called before the batch is handed on,
// while the caller still holds it.
func (a *Ack) Retain(n int) {
	if a == nil || n == 0 {
		return
	}
	a.pending.Add(int32(n))
}

// Release gives up one hold with the given status.
func (a *Ack) Release(s Status) {
	if a == nil {
		return
	}
	if s == Failed {
		a.failed.Store(true)
	}
	switch n := a.pending.Add(-1); {
	case n == 0:
		if a.done != nil {
			a.done(!a.failed.Load())
		}
	case n < 0:
		panic("event: Ack released more often than retained")
	}
}

// JoinAcks returns a new Ack, held once by its creator, that stands for
// every Ack of parents: when the last holder of the new Ack releases it, each
// parent is released once, as Failed when the new Ack was not ok and as
// Delivered otherwise. The caller transfers one hold on each parent to the
// new Ack (Retain each parent before, if it still needs its own hold).
//
// A transform uses it for an event made of several others: a multi-line
// event whose lines came in two batches holds both batches' Acks until it is
// delivered, so neither batch is acknowledged before the joined event is.
func JoinAcks(parents []*Ack) *Ack {
	ps := append([]*Ack(nil), parents...)
	return NewAck(func(ok bool) {
		s := Delivered
		if !ok {
			s = Failed
		}
		for _, p := range ps {
			p.Release(s)
		}
	})
}
