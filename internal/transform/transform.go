// Package transform holds what drover's transforms share: counting and
// logging discards with a reason, emitting the events a transform keeps
// under their batch's acknowledgement, per-workload hints, and writing
// fields by path. Each transform type is a package below it (parse,
// multiline, filter, remap, route, throttle, sample, dedupe); the contract
// they implement is component.Transform.
package transform

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

// Discards counts the events a transform drops by design, with a reason
// (component_discarded_events_total{reason}), and logs the first discard of
// each reason once, at info level, with its context. It is safe for
// concurrent use.
type Discards struct {
	m   *metrics.Component
	log *slog.Logger

	mu       sync.Mutex
	counters map[string]prometheus.Counter
}

// NewDiscards returns the discard counter of a component.
func NewDiscards(ctx component.Context) *Discards {
	log := ctx.Logger
	if log == nil {
		log = slog.Default()
	}
	m := ctx.Metrics
	if m == nil {
		m = metrics.ForTest(string(ctx.Kind), ctx.Type, ctx.ID)
	}
	return &Discards{m: m, log: log, counters: map[string]prometheus.Counter{}}
}

// Add counts n events discarded for reason. The first discard of a reason
// is logged with attrs (what was dropped and why: the key, the condition).
func (d *Discards) Add(reason string, n int, attrs ...any) {
	if n <= 0 {
		return
	}
	d.mu.Lock()
	c, seen := d.counters[reason]
	if !seen {
		c = d.m.Discarded(reason)
		d.counters[reason] = c
	}
	d.mu.Unlock()
	c.Add(float64(n))
	if !seen {
		d.log.Info("discarding events by design; counted in component_discarded_events_total (logged once per reason)",
			append([]any{"reason", reason}, attrs...)...)
	}
}

// Metrics returns the component's instruments.
func (d *Discards) Metrics() *metrics.Component { return d.m }

// EmitKept emits the events kept of batch b under b's acknowledgement.
// kept is b.Events itself when every event was kept (the batch is passed on
// as it is, without allocating), or a new slice; an empty kept emits
// nothing: the dropped events were counted and their batch is acknowledged
// as delivered once the caller releases it.
func EmitKept(ctx context.Context, out component.Emitter, b *event.Batch, kept []event.Event) error {
	if len(kept) == 0 {
		return nil
	}
	if len(kept) == len(b.Events) && &kept[0] == &b.Events[0] {
		return out.Emit(ctx, b)
	}
	return out.Emit(ctx, &event.Batch{Events: kept, Ack: b.Ack})
}

// Keep is the common loop of a transform that keeps or drops each event
// without changing it: it returns b.Events when keep said yes to every
// event (no allocation), and otherwise a new slice of those it kept.
func Keep(evs []event.Event, keep func(e *event.Event) bool) []event.Event {
	for i := range evs {
		if keep(&evs[i]) {
			continue
		}
		// The first event dropped: copy the kept prefix, then go on.
		out := make([]event.Event, i, len(evs)-1)
		copy(out, evs[:i])
		for j := i + 1; j < len(evs); j++ {
			if keep(&evs[j]) {
				out = append(out, evs[j])
			}
		}
		return out
	}
	return evs
}
