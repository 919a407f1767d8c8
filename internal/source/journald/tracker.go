package journald

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/event"
)

// position is a place in the journal: after the entry named by Cursor,
// whose __REALTIME_TIMESTAMP is Realtime (microseconds). The zero position
// is "nothing read yet".
type position struct {
	Cursor   string `json:"cursor"`
	Realtime int64  `json:"realtime_usec,omitempty"`
}

// tracker follows the batches a source emitted, in emission order, and
// moves the committed position over the contiguous prefix of batches every
// consumer acknowledged. The committed position is what the source
// persists: it never passes an entry that is not acknowledged.
//
// Acknowledgements may arrive in any order and on any goroutine. A batch
// acknowledged with failure holds the committed position below it:
// failedBatch reports it until rewind, and failures() is signalled so that
// the reader can stop journalctl and start again at the committed position.
type tracker struct {
	mu        sync.Mutex
	committed position
	epoch     uint64
	base      uint64 // sequence number of pending[head]
	head      int
	pending   []slot

	inflight  int
	idle      chan struct{} // closed when inflight drops to 0; nil while 0
	hasFailed bool
	failed    chan struct{} // capacity 1
	gauge     prometheus.Gauge
	onCommit  func()
}

type slot struct {
	pos   position
	state uint8
}

const (
	slotInFlight uint8 = iota
	slotOK
	slotFailed
)

// newTracker returns a tracker committed at p. gauge (may be nil) follows
// the number of batches in flight; onCommit (may be nil) runs, without
// locks held, whenever the committed position moves.
func newTracker(p position, gauge prometheus.Gauge, onCommit func()) *tracker {
	return &tracker{committed: p, failed: make(chan struct{}, 1), gauge: gauge, onCommit: onCommit}
}

// add registers a batch that, once acknowledged, brings the committed
// position to p. It returns the batch's Ack, held once by the caller.
func (t *tracker) add(p position) *event.Ack {
	t.mu.Lock()
	seq := t.base + uint64(len(t.pending)-t.head)
	epoch := t.epoch
	t.pending = append(t.pending, slot{pos: p})
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

// mark registers a position reached without emitting anything (entries
// that were all excluded). It is committed once every batch before it is.
func (t *tracker) mark(p position) {
	t.mu.Lock()
	t.pending = append(t.pending, slot{pos: p, state: slotOK})
	moved := t.advance()
	t.mu.Unlock()
	if moved && t.onCommit != nil {
		t.onCommit()
	}
}

func (t *tracker) settle(epoch, seq uint64, ok bool) {
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

// advance moves the committed position over the acknowledged prefix. The
// caller holds mu.
func (t *tracker) advance() bool {
	moved := false
	for t.head < len(t.pending) && t.pending[t.head].state == slotOK {
		t.committed = t.pending[t.head].pos
		t.pending[t.head] = slot{}
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

// rewind forgets every pending batch (their acknowledgements are ignored
// from now on) and returns the committed position, where reading must
// start again.
func (t *tracker) rewind() position {
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

// failures is signalled when a batch was acknowledged with failure.
func (t *tracker) failures() <-chan struct{} { return t.failed }

// failedBatch reports whether a batch failed since the last rewind.
func (t *tracker) failedBatch() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hasFailed
}

// snapshot returns the committed position.
func (t *tracker) snapshot() position {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.committed
}

// pendingBatches is the number of batches not acknowledged yet.
func (t *tracker) pendingBatches() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inflight
}

// wait returns nil once every emitted batch was acknowledged, or ctx.Err().
func (t *tracker) wait(ctx context.Context) error {
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
