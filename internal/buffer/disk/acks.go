package disk

import (
	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/event"
)

// entry is one step of the reader: a record handed out, or a step over
// something that needs no acknowledgement (an undecodable record, the end
// of a segment). Entries are the positions of the buffer's ordered
// acknowledgement window (b.acks, a checkpoint.Window under b.mu): the
// acknowledged position moves to an entry's end once it and every entry
// before it are settled. A record released Failed stays in its place,
// holding the position, and is handed out again (redeliver) until it is
// settled.
type entry struct {
	seg    uint64
	recOff int64 // the record's offset; -1 for a step without a record
	end    position
	// events and bytes are what the entry takes off the live counts when
	// it is acknowledged; zero for steps without a record.
	events    int64
	bytes     int64
	writtenAt int64
	// settled: pushed as a step that needs no acknowledgement.
	settled bool
	ticket  checkpoint.Ticket
}

// newAck returns the Ack of a batch handed out for e.
func (b *Buffer) newAck(e *entry) *event.Ack {
	return event.NewAck(func(ok bool) { b.settle(e, ok) })
}

// settle records how the sink finished with e's batch.
func (b *Buffer) settle(e *entry, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		// Closed: the batch stays in the buffer for the next run.
		return
	}
	if !ok {
		b.acks.Settle(e.ticket, false)
		b.redeliver = append(b.redeliver, e)
		b.signalReady()
		return
	}
	b.settleOK(e)
}

// settleOK settles e and advances. Callers hold b.mu.
func (b *Buffer) settleOK(e *entry) {
	b.acks.Settle(e.ticket, true)
	b.advance()
}

// push appends a step to the window and advances. Callers hold b.mu.
func (b *Buffer) push(e *entry) {
	e.ticket = b.acks.Push(e, e.settled)
	b.cur = e.end
	if e.settled {
		b.advance()
	}
}

// advance moves the acknowledged position over the settled prefix of the
// entries. Callers hold b.mu.
func (b *Buffer) advance() {
	moved := b.acks.Advance(func(e *entry) {
		if e.end.seg != b.ackPos.seg {
			// A segment was passed: persist soon so it can be deleted.
			select {
			case b.maint <- struct{}{}:
			default:
			}
		}
		b.ackPos = e.end
		if e.recOff >= 0 {
			b.live--
			b.liveEvents -= e.events
			b.liveBytes -= e.bytes
			b.m.BufferEvents.Sub(float64(e.events))
			b.m.BufferBytes.Sub(float64(e.bytes))
		}
	})
	if moved && b.live <= 0 {
		// An empty buffer admits any batch.
		b.signalRoom()
	}
}
