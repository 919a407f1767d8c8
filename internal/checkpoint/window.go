package checkpoint

// Window is drover's one ordered-acknowledgement bookkeeping: what a
// component handed on, in order, and how far it is acknowledged. A source
// registers every batch it emits with the position that batch brings its
// checkpoint to (Push); acknowledgements settle the batches in any order
// (Settle); the committed position moves over the contiguous prefix of
// batches settled ok (Advance), never past one that is not. A batch
// settled failed holds the prefix until it is settled again ok (a batch
// handed out again, as the disk buffer does) or the window is Reset (a
// source that reads the failed data again from the committed position).
//
// Tracker is its concurrent form for sources (journald, nomad_events, and
// through tail.Progress every file); the disk buffer keeps one under its
// own lock. A Window is not safe for concurrent use: its owner locks it.
type Window[P any] struct {
	committed P
	epoch     uint64
	base      uint64 // sequence number of slots[head]
	head      int
	slots     []windowSlot[P]
	failed    int // slots settled failed and not settled ok since
}

type windowSlot[P any] struct {
	pos   P
	state uint8
}

const (
	slotInFlight uint8 = iota
	slotOK
	slotFailed
)

// Ticket names one slot of a Window, for Settle.
type Ticket struct{ epoch, seq uint64 }

// NewWindow returns a window committed at c.
func NewWindow[P any](c P) *Window[P] { return &Window[P]{committed: c} }

// Push registers the next slot, which brings the committed position to pos
// once it and every slot before it are settled ok. settled registers a
// step that needs no acknowledgement (bytes skipped, a record dropped): it
// is ok already.
func (w *Window[P]) Push(pos P, settled bool) Ticket {
	t := Ticket{epoch: w.epoch, seq: w.base + uint64(len(w.slots)-w.head)}
	st := slotInFlight
	if settled {
		st = slotOK
	}
	w.slots = append(w.slots, windowSlot[P]{pos: pos, state: st})
	return t
}

// Settle records the outcome of a slot's batch. A failed slot holds the
// committed position below it until it is settled again ok. It reports
// false for a ticket from before a Reset, or one already committed (an
// acknowledgement that comes too late to matter), and does nothing then.
func (w *Window[P]) Settle(t Ticket, ok bool) bool {
	if t.epoch != w.epoch || t.seq < w.base {
		return false
	}
	i := w.head + int(t.seq-w.base)
	if i >= len(w.slots) {
		return false
	}
	s := &w.slots[i]
	switch {
	case ok && s.state == slotFailed:
		w.failed--
		s.state = slotOK
	case ok:
		s.state = slotOK
	case s.state != slotFailed:
		w.failed++
		s.state = slotFailed
	}
	return true
}

// Advance commits the prefix of slots settled ok, calling each (may be
// nil) with every committed position in order, and reports whether the
// committed position moved.
func (w *Window[P]) Advance(each func(P)) bool {
	moved := false
	for w.head < len(w.slots) && w.slots[w.head].state == slotOK {
		w.committed = w.slots[w.head].pos
		if each != nil {
			each(w.committed)
		}
		var zero windowSlot[P]
		w.slots[w.head] = zero
		w.head++
		w.base++
		moved = true
	}
	w.compact()
	return moved
}

// compact keeps the slots from growing without bound as they are committed
// at their front.
func (w *Window[P]) compact() {
	switch {
	case w.head == len(w.slots):
		w.slots, w.head = w.slots[:0], 0
	case w.head >= 64 && w.head*2 >= len(w.slots):
		n := copy(w.slots, w.slots[w.head:])
		clear(w.slots[n:])
		w.slots, w.head = w.slots[:n], 0
	}
}

// Committed is the committed position.
func (w *Window[P]) Committed() P { return w.committed }

// Reset forgets every pending slot (their tickets are refused from now on)
// and commits c.
func (w *Window[P]) Reset(c P) {
	w.epoch++
	w.base += uint64(len(w.slots) - w.head)
	clear(w.slots)
	w.slots, w.head, w.failed = w.slots[:0], 0, 0
	w.committed = c
}

// Pending is the number of slots not committed yet.
func (w *Window[P]) Pending() int { return len(w.slots) - w.head }

// Failed reports whether a pending slot is settled failed.
func (w *Window[P]) Failed() bool { return w.failed > 0 }

// First returns the first pending slot's position that is not settled ok
// and for which match (may be nil) is true.
func (w *Window[P]) First(match func(P) bool) (P, bool) {
	for i := w.head; i < len(w.slots); i++ {
		if s := &w.slots[i]; s.state != slotOK && (match == nil || match(s.pos)) {
			return s.pos, true
		}
	}
	var zero P
	return zero, false
}
