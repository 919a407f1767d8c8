package batch

import (
	"sync/atomic"

	"github.com/drover-dev/drover/internal/event"
)

// Ticket accounts the verdicts of one source batch's events and releases
// the batch's Ack once, when every event has one. It is safe for
// concurrent use: requests holding different parts of the batch may finish
// on different goroutines.
type Ticket struct {
	ack     *event.Ack
	pending atomic.Int64
	worst   atomic.Uint32
}

// Track starts accounting b and takes over the caller's hold on b.Ack: the
// caller must not release it itself. A batch without events is released as
// Delivered at once.
func Track(b *event.Batch) *Ticket {
	t := &Ticket{ack: b.Ack}
	t.pending.Store(int64(len(b.Events)))
	if len(b.Events) == 0 {
		b.Ack.Release(event.Delivered)
	}
	return t
}

// severity orders statuses: the Ack is released with the most severe
// status any event got.
func severity(s event.Status) uint32 {
	switch s {
	case event.Delivered:
		return 0
	case event.Rejected:
		return 1
	}
	return 2
}

var bySeverity = [...]event.Status{event.Delivered, event.Rejected, event.Failed}

// Done gives n events of the batch the status s. It panics when the batch
// gets more verdicts than it has events: that is a bookkeeping bug that
// would otherwise acknowledge data that was not delivered.
func (t *Ticket) Done(n int, s event.Status) {
	if n <= 0 {
		return
	}
	sev := severity(s)
	for {
		old := t.worst.Load()
		if sev <= old || t.worst.CompareAndSwap(old, sev) {
			break
		}
	}
	switch left := t.pending.Add(-int64(n)); {
	case left == 0:
		t.ack.Release(bySeverity[t.worst.Load()])
	case left < 0:
		panic("batch: more verdicts than events in a source batch")
	}
}
