package checkpoint

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/event"
)

// Tracker is the acknowledgement bookkeeping of a source, safe for
// concurrent use: a Window behind a lock, whose batches are counted in an
// Inflight. Its position P is what the source persists: an event stream's
// cursor, a journal cursor, a file's offset (tail.Progress).
//
// It follows the batches a source emitted, in emission order, and moves
// the committed position over the contiguous prefix of batches every
// consumer acknowledged: it never passes an event that is not
// acknowledged. Acknowledgements may arrive in any order and on any
// goroutine. A batch acknowledged with failure holds the committed
// position below it: FailedBatch reports it until Rewind (or Reset), and
// Failures is signalled to wake the reader. The source then rewinds
// (forgets everything pending and starts again from the committed
// position).
type Tracker[P any] struct {
	mu        sync.Mutex
	w         Window[P]
	inflight  *Inflight
	hasFailed bool          // a batch failed since the last rewind
	failed    chan struct{} // capacity 1: signalled when a batch fails
	onCommit  func()
}

// NewTracker returns a tracker committed at c. gauge (may be nil) follows
// the number of batches in flight; onCommit (may be nil) runs, without
// locks held, whenever the committed position moves.
func NewTracker[P any](c P, gauge prometheus.Gauge, onCommit func()) *Tracker[P] {
	return NewTrackerIn(c, NewInflight(gauge), onCommit)
}

// NewTrackerIn returns a tracker committed at c whose batches are counted
// in in, shared with other trackers (may be nil: not counted; Wait does
// not wait then).
func NewTrackerIn[P any](c P, in *Inflight, onCommit func()) *Tracker[P] {
	return &Tracker[P]{w: Window[P]{committed: c}, inflight: in, failed: make(chan struct{}, 1), onCommit: onCommit}
}

// Add registers a batch that, once acknowledged, brings the committed
// position to pos. It returns the batch's Ack, held once by the caller.
func (t *Tracker[P]) Add(pos P) *event.Ack {
	t.mu.Lock()
	tk := t.w.Push(pos, false)
	t.mu.Unlock()
	t.inflight.add()
	return event.NewAck(func(ok bool) { t.settle(tk, ok) })
}

// Mark registers a position reached without emitting anything (bytes
// skipped, a reset of the cursor). It is committed as soon as every batch
// before it is.
func (t *Tracker[P]) Mark(pos P) {
	t.mu.Lock()
	t.w.Push(pos, true)
	moved := t.w.Advance(nil)
	t.mu.Unlock()
	if moved && t.onCommit != nil {
		t.onCommit()
	}
}

func (t *Tracker[P]) settle(tk Ticket, ok bool) {
	// Counted down last, so that whoever waits for the Inflight sees the
	// committed position this acknowledgement produced.
	defer t.inflight.done()
	t.mu.Lock()
	moved := false
	if t.w.Settle(tk, ok) {
		if ok {
			moved = t.w.Advance(nil)
		} else {
			t.hasFailed = true
			select {
			case t.failed <- struct{}{}:
			default:
			}
		}
	}
	t.mu.Unlock()
	if moved && t.onCommit != nil {
		t.onCommit()
	}
}

// Rewind forgets every pending batch (their acknowledgements are ignored
// from now on) and returns the committed position, where reading must
// start again.
func (t *Tracker[P]) Rewind() P {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.w.Committed()
	t.rewindLocked(c)
	return c
}

// Reset forgets every pending batch and commits c (a file read again from
// its beginning). onCommit runs.
func (t *Tracker[P]) Reset(c P) {
	t.mu.Lock()
	t.rewindLocked(c)
	t.mu.Unlock()
	if t.onCommit != nil {
		t.onCommit()
	}
}

func (t *Tracker[P]) rewindLocked(c P) {
	t.w.Reset(c)
	t.hasFailed = false
	select {
	case <-t.failed:
	default:
	}
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

// Snapshot returns the committed position.
func (t *Tracker[P]) Snapshot() P {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.w.Committed()
}

// Pending is the number of batches and marks registered and not committed
// yet.
func (t *Tracker[P]) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.w.Pending()
}

// PendingBatches is the number of batches in flight in the tracker's
// Inflight (shared ones count those of every tracker).
func (t *Tracker[P]) PendingBatches() int { return t.inflight.Count() }

// Wait returns nil once no batch counted in the tracker's Inflight is in
// flight, or ctx.Err().
func (t *Tracker[P]) Wait(ctx context.Context) error { return t.inflight.Wait(ctx) }
