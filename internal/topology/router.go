package topology

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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
	// taps are the viewers of what leaves the output (tap.go); nil
	// without any.
	taps atomic.Pointer[tapSet]
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
	if ts := r.taps.Load(); ts != nil {
		ts.offer(b)
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

// transformTarget runs a transform inline, in the goroutine of whoever
// delivers to it, and emits the result through the transform's own router.
// A transform that holds events between batches (component.Flusher) also
// gets a goroutine of its own for timed flushes; stop ends it and flushes
// what is held.
type transformTarget struct {
	transformID string
	t           component.Transform
	out         *router
	m           *metrics.Component
	log         *slog.Logger

	// mu is held for reading by every delivery and for writing by stop,
	// which so waits for the deliveries under way; after stop, deliveries
	// get errRetired and go to the transform's successor.
	mu      sync.RWMutex
	retired bool
	cancel  context.CancelFunc
	runDone chan struct{}
}

func (t *transformTarget) id() string { return t.transformID }

func (t *transformTarget) deliver(ctx context.Context, b *event.Batch) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.retired {
		return errRetired
	}
	t.m.ReceivedEvents.Add(float64(len(b.Events)))
	return t.t.Process(ctx, b, sentCounter{t})
}

// start runs the timed flushes of a transform that holds events.
func (t *transformTarget) start() {
	f, ok := t.t.(component.Flusher)
	if !ok || t.runDone != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	t.runDone = make(chan struct{})
	go func() {
		defer close(t.runDone)
		f.Run(ctx, sentCounter{t})
	}()
}

// stop retires the transform: it waits for the deliveries under way, ends
// the timed flushes and flushes what the transform holds, for up to
// timeout. With deliver false (the transform was removed and its output
// has no consumer left) nothing is emitted: what is held is released as
// Failed, to be read again after a restart.
func (t *transformTarget) stop(timeout time.Duration, deliver bool) {
	t.mu.Lock()
	if t.retired {
		t.mu.Unlock()
		return
	}
	t.retired = true
	t.mu.Unlock()
	f, ok := t.t.(component.Flusher)
	if !ok {
		return
	}
	if t.cancel != nil {
		t.cancel()
		<-t.runDone
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if !deliver {
		cancel()
	}
	if err := f.Flush(ctx, sentCounter{t}); err != nil && deliver {
		t.m.Errors("flush").Inc()
		t.log.Warn("could not flush the events the transform held; they stay unacknowledged and are read again after restart", "error", err)
	}
}

// sentCounter is the default output of a transform as the transform sees
// it: the transform's router, counting what it emits.
type sentCounter struct{ t *transformTarget }

func (s sentCounter) Emit(ctx context.Context, b *event.Batch) error {
	s.t.m.SentEvents.Add(float64(len(b.Events)))
	return s.t.out.Emit(ctx, b)
}

// countingOutput is a named output of a transform, counting what it emits.
type countingOutput struct {
	r *router
	m *metrics.Component
}

func (c countingOutput) Emit(ctx context.Context, b *event.Batch) error {
	c.m.SentEvents.Add(float64(len(b.Events)))
	return c.r.Emit(ctx, b)
}

// Consumed reports whether any component reads the output now. A
// transform whose output nothing reads (a route's _unmatched) counts what
// it would have sent there as discarded.
func (r *router) Consumed() bool { return len(r.cur.Load().targets) > 0 }

// Consumed reports whether any component reads the output now.
func (c countingOutput) Consumed() bool { return c.r.Consumed() }
