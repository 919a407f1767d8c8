package topology

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

// noWait is a context that has already ended: a push with it takes the batch
// only if there is room right away.
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// dropTarget feeds a memory queue with when_full = "drop_newest": a batch
// that does not fit is discarded instead of waiting. It is released as
// Rejected (its source moves past it), counted in
// component_discarded_events_total{reason="buffer_full"}, and logged once
// per full spell.
type dropTarget struct {
	sinkID string
	q      *queue
	m      *metrics.Component
	log    *slog.Logger

	mu       sync.Mutex
	dropping int // events dropped in the current full spell
}

func (t *dropTarget) id() string { return t.sinkID }

func (t *dropTarget) deliver(ctx context.Context, b *event.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := t.q.push(noWait, b)
	if err == nil || errors.Is(err, errRetired) {
		t.mu.Lock()
		dropped := t.dropping
		t.dropping = 0
		t.mu.Unlock()
		if err == nil && dropped > 0 {
			t.log.Info("sink buffer has room again", "dropped_events", dropped)
		}
		return err
	}
	n := len(b.Events)
	t.mu.Lock()
	first := t.dropping == 0
	t.dropping += n
	t.mu.Unlock()
	if first {
		t.log.Warn("sink buffer full; dropping new events until there is room (when_full = \"drop_newest\")")
	}
	t.m.ReceivedEvents.Add(float64(n))
	t.m.Discarded("buffer_full").Add(float64(n))
	b.Ack.Retain(1)
	b.Ack.Release(event.Rejected)
	return nil
}
