package topology

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

// target is one consumer of a producer's batches.
type target interface {
	// id is the consumer's component id. A batch goes at most once to each id.
	id() string
	// deliver hands the batch on. It returns errRetired when the consumer no
	// longer takes batches and the caller should look for its successor.
	deliver(ctx context.Context, b *event.Batch) error
}

// routes is an immutable set of targets. changed is closed when a newer set
// replaces it.
type routes struct {
	targets []target
	changed chan struct{}
}

// router is the Emitter of one source or transform id. Its routes are
// swapped by reloads while batches flow.
type router struct {
	cur atomic.Pointer[routes]
}

func newRouter() *router {
	r := &router{}
	r.cur.Store(&routes{changed: make(chan struct{})})
	return r
}

// set installs new routes and wakes emitters that wait on the old ones.
func (r *router) set(ts []target) {
	old := r.cur.Swap(&routes{targets: ts, changed: make(chan struct{})})
	close(old.changed)
}

// Emit implements component.Emitter.
func (r *router) Emit(ctx context.Context, b *event.Batch) error {
	if len(b.Events) == 0 {
		return nil
	}
	var sentArr [8]string
	sent := sentArr[:0]
	rt := r.cur.Load()
	for {
		retry := false
		for _, t := range rt.targets {
			if contains(sent, t.id()) {
				continue
			}
			err := t.deliver(ctx, b)
			if errors.Is(err, errRetired) {
				retry = true
				continue
			}
			if err != nil {
				// The batch did not reach every consumer: make sure its
				// source does not move past it.
				b.Ack.Retain(1)
				b.Ack.Release(event.Failed)
				return err
			}
			sent = append(sent, t.id())
		}
		if !retry {
			return nil
		}
		// A consumer was replaced. Its successor is in newer routes; they
		// are installed before the old consumer retires, so unless drover is
		// stopping they are already there.
		select {
		case <-rt.changed:
			rt = r.cur.Load()
		case <-ctx.Done():
			b.Ack.Retain(1)
			b.Ack.Release(event.Failed)
			return ctx.Err()
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sinkTarget feeds a sink's queue.
type sinkTarget struct {
	sinkID string
	q      *queue
}

func (s *sinkTarget) id() string { return s.sinkID }

func (s *sinkTarget) deliver(ctx context.Context, b *event.Batch) error { return s.q.push(ctx, b) }

// transformTarget applies a transform inline and emits the result through
// the transform's own router.
type transformTarget struct {
	transformID string
	t           component.Transform
	out         *router
	m           *metrics.Component
}

func (t *transformTarget) id() string { return t.transformID }

func (t *transformTarget) deliver(ctx context.Context, b *event.Batch) error {
	t.m.ReceivedEvents.Add(float64(len(b.Events)))
	evs := t.t.Apply(b.Events)
	if len(evs) < len(b.Events) {
		t.m.Discarded("filtered").Add(float64(len(b.Events) - len(evs)))
	}
	if len(evs) == 0 {
		return nil
	}
	t.m.SentEvents.Add(float64(len(evs)))
	nb := b
	if len(evs) != len(b.Events) || &evs[0] != &b.Events[0] {
		nb = &event.Batch{Events: evs, Ack: b.Ack}
	}
	return t.out.Emit(ctx, nb)
}
