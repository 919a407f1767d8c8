package follow

import (
	"context"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/tail"
)

// emitQueue is the number of batches read and waiting for the emitter. The
// run loop reads only while the queue has room, so a full sink stops the
// reading, while the run loop goes on finding and opening new files: a
// file a writer creates and deletes while the sink is down is held open,
// not lost.
const emitQueue = 2

// hasRoom reports whether the emit queue takes another batch now.
func (f *Follower) hasRoom() bool { return len(f.queue) < cap(f.queue) }

// send queues b for the emitter (a nil b is nothing). Only the run loop
// sends, after hasRoom, so it does not wait; it returns ctx.Err(), with the
// batch released as failed, when ctx ended.
func (f *Follower) send(ctx context.Context, b *event.Batch) error {
	if b == nil {
		return nil
	}
	select {
	case f.queue <- b:
		return nil
	case <-ctx.Done():
		b.Ack.Release(event.Failed)
		return ctx.Err()
	}
}

// emitLoop hands the queued batches to out, in order, until ctx ends, and
// wakes the run loop each time the queue has room again.
func (f *Follower) emitLoop(ctx context.Context, out component.Emitter) {
	for {
		select {
		case b := <-f.queue:
			select {
			case f.room <- struct{}{}:
			default:
			}
			if err := tail.Emit(ctx, out, b, f.m.SentEvents); err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// failQueued releases the batches left in the queue as failed: they were
// not handed on, their lines are read again by the next Run or after a
// restart.
func (f *Follower) failQueued() {
	for {
		select {
		case b := <-f.queue:
			b.Ack.Release(event.Failed)
		default:
			return
		}
	}
}
