package topology

import (
	"context"
	"errors"
	"sync"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

// errRetired is returned by push when the queue no longer takes batches:
// its sink was replaced or removed by a reload, or drover is stopping.
var errRetired = errors.New("queue retired")

// queue is the bounded buffer in front of one sink instance. It counts the
// events it admitted until the sink releases them, so the events waiting and
// the events in flight inside the sink together stay within capacity. A
// batch larger than the capacity is admitted alone into an empty queue.
type queue struct {
	capacity int
	ch       chan *event.Batch
	m        *metrics.Component

	mu      sync.Mutex
	used    int
	retired bool
	space   chan struct{} // closed and replaced whenever room frees up
}

func newQueue(capacity int, m *metrics.Component) *queue {
	return &queue{
		capacity: capacity,
		// At most capacity batches fit (each holds at least one event), so
		// a send under mu never blocks.
		ch:    make(chan *event.Batch, capacity),
		m:     m,
		space: make(chan struct{}),
	}
}

// push admits b, waiting for room. The sink gets its own view of the batch
// whose acknowledgement frees the room and then releases the caller's batch.
func (q *queue) push(ctx context.Context, b *event.Batch) error {
	n := min(len(b.Events), q.capacity)
	for {
		q.mu.Lock()
		if q.retired {
			q.mu.Unlock()
			return errRetired
		}
		if q.used == 0 || q.used+n <= q.capacity {
			q.used += n
			nbytes := b.MessageBytes()
			parent := b.Ack
			parent.Retain(1)
			q.ch <- &event.Batch{Events: b.Events, Ack: event.NewAck(func(ok bool) {
				q.release(n, nbytes)
				if ok {
					parent.Release(event.Delivered)
				} else {
					parent.Release(event.Failed)
				}
			})}
			q.mu.Unlock()
			q.m.ReceivedEvents.Add(float64(len(b.Events)))
			q.m.ReceivedBytes.Add(float64(nbytes))
			q.m.BufferEvents.Add(float64(n))
			q.m.BufferBytes.Add(float64(nbytes))
			return nil
		}
		wait := q.space
		q.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (q *queue) release(n, nbytes int) {
	q.mu.Lock()
	q.used -= n
	close(q.space)
	q.space = make(chan struct{})
	q.mu.Unlock()
	q.m.BufferEvents.Sub(float64(n))
	q.m.BufferBytes.Sub(float64(nbytes))
}

// retire stops admitting batches and closes the sink's input once what was
// admitted is in it. Pushers waiting for room get errRetired.
func (q *queue) retire() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.retired {
		return
	}
	q.retired = true
	close(q.ch)
	close(q.space)
	q.space = make(chan struct{})
}

// inUse reports the events admitted and not yet released.
func (q *queue) inUse() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.used
}
