package checkpoint

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/event"
)

// Tracker is the acknowledgement bookkeeping of a source whose position is
// a single value P (an event stream's cursor, a journal cursor): the
// committed position is what the source persists.
//
// It follows the batches a source emitted, in emission order, and moves
// the committed cursor over the contiguous prefix of batches every consumer
// acknowledged. The committed cursor is what the source persists: it never
// passes an event that is not acknowledged.
//
// Acknowledgements may arrive in any order and on any goroutine. A batch
// acknowledged with failure holds the committed cursor below it:
// FailedBatch reports it until Rewind, and Failures is signalled to wake the
// reader. The source then rewinds (forgets everything pending and starts
// again from the committed cursor). A Tracker is safe for concurrent use.
type Tracker[P any] struct {
	mu        sync.Mutex
	committed P
	epoch     uint64
	base      uint64 // sequence number of pending[head]
	head      int
	pending   []slot[P]

	inflight  int
	idle      chan struct{} // closed when inflight drops to 0; nil while 0
	hasFailed bool          // a batch failed since the last rewind
	failed    chan struct{} // capacity 1: signalled when a batch fails
	gauge     prometheus.Gauge
	onCommit  func()
}

type slot[P any] struct {
	pos   P
	state uint8
}

const (
	slotInFlight uint8 = iota
	slotOK
	slotFailed
)

// NewTracker returns a tracker committed at c. gauge (may be nil) follows
// the number of batches in flight; onCommit (may be nil) runs, without
// locks held, whenever the committed cursor moves.
func NewTracker[P any](c P, gauge prometheus.Gauge, onCommit func()) *Tracker[P] {
	return &Tracker[P]{committed: c, failed: make(chan struct{}, 1), gauge: gauge, onCommit: onCommit}
}

// Add registers a batch that, once acknowledged, brings the committed
// cursor to pos. It returns the batch's Ack, held once by the caller.
func (t *Tracker[P]) Add(pos P) *event.Ack {
	t.mu.Lock()
	seq := t.base + uint64(len(t.pending)-t.head)
	epoch := t.epoch
	t.pending = append(t.pending, slot[P]{pos: pos})
	if t.inflight == 0 {
		t.idle = make(chan struct{})
	}
	t.inflight++
	t.mu.Unlock()
	if t.gauge != nil {
		t.gauge.Inc()
	}
	return event.NewAck(func(ok bool) { t.settle(epoch, seq, ok) })
}

// Mark registers a position reached without emitting anything (a reset of
// the cursor). It is committed as soon as every batch before it is.
func (t *Tracker[P]) Mark(pos P) {
	t.mu.Lock()
	t.pending = append(t.pending, slot[P]{pos: pos, state: slotOK})
	moved := t.advance()
	t.mu.Unlock()
	if moved && t.onCommit != nil {
		t.onCommit()
	}
}

func (t *Tracker[P]) settle(epoch, seq uint64, ok bool) {
	t.mu.Lock()
	t.inflight--
	if t.inflight == 0 {
		close(t.idle)
		t.idle = nil
	}
	moved := false
	if epoch == t.epoch && seq >= t.base {
		if i := t.head + int(seq-t.base); i < len(t.pending) {
			if ok {
				t.pending[i].state = slotOK
				moved = t.advance()
			} else {
				t.pending[i].state = slotFailed
				t.hasFailed = true
				select {
				case t.failed <- struct{}{}:
				default:
				}
			}
		}
	}
	t.mu.Unlock()
	if t.gauge != nil {
		t.gauge.Dec()
	}
	if moved && t.onCommit != nil {
		t.onCommit()
	}
}

// advance moves the committed cursor over the acknowledged prefix. The
// caller holds mu.
func (t *Tracker[P]) advance() bool {
	moved := false
	for t.head < len(t.pending) && t.pending[t.head].state == slotOK {
		t.committed = t.pending[t.head].pos
		t.pending[t.head] = slot[P]{}
		t.head++
		t.base++
		moved = true
	}
	switch {
	case t.head == len(t.pending):
		t.pending, t.head = t.pending[:0], 0
	case t.head >= 64 && t.head*2 >= len(t.pending):
		n := copy(t.pending, t.pending[t.head:])
		clear(t.pending[n:])
		t.pending, t.head = t.pending[:n], 0
	}
	return moved
}

// Rewind forgets every pending batch (their acknowledgements are ignored
// from now on) and returns the committed cursor, where reading must start
// again.
func (t *Tracker[P]) Rewind() P {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch++
	t.base += uint64(len(t.pending) - t.head)
	clear(t.pending)
	t.pending, t.head = t.pending[:0], 0
	t.hasFailed = false
	select {
	case <-t.failed:
	default:
	}
	return t.committed
}

// Failures is signalled when a batch was acknowledged with failure. It only
// wakes a waiter up; FailedBatch says whether a rewind is due.
func (t *Tracker[P]) Failures() <-chan struct{} { return t.failed }

// FailedBatch reports whether a batch failed since the last rewind.
func (t *Tracker[P]) FailedBatch() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hasFailed
}

// Snapshot returns the committed cursor.
func (t *Tracker[P]) Snapshot() P {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.committed
}

// PendingBatches is the number of batches not acknowledged yet.
func (t *Tracker[P]) PendingBatches() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inflight
}

// Wait returns nil once every emitted batch was acknowledged, or ctx.Err().
func (t *Tracker[P]) Wait(ctx context.Context) error {
	t.mu.Lock()
	ch := t.idle
	t.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
