package checkpoint

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Inflight counts the batches a source emitted that are not acknowledged
// yet, so that Close can wait for them (see Settle). Every Tracker counts
// into one; a source whose trackers are many (one per file) shares one
// among them. A nil *Inflight counts nothing.
type Inflight struct {
	mu    sync.Mutex
	n     int
	zero  chan struct{} // closed when n drops to 0; nil while n is 0
	gauge prometheus.Gauge
}

// NewInflight returns a counter that also sets gauge (may be nil), for
// example the component's Unacknowledged metric.
func NewInflight(gauge prometheus.Gauge) *Inflight { return &Inflight{gauge: gauge} }

// Count returns the number of batches in flight.
func (i *Inflight) Count() int {
	if i == nil {
		return 0
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.n
}

// Wait returns nil once no batch is in flight, or ctx.Err() if ctx ends
// first.
func (i *Inflight) Wait(ctx context.Context) error {
	if i == nil {
		return nil
	}
	i.mu.Lock()
	ch := i.zero
	i.mu.Unlock()
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

func (i *Inflight) add() {
	if i == nil {
		return
	}
	i.mu.Lock()
	if i.n == 0 {
		i.zero = make(chan struct{})
	}
	i.n++
	if i.gauge != nil {
		i.gauge.Inc()
	}
	i.mu.Unlock()
}

func (i *Inflight) done() {
	if i == nil {
		return
	}
	i.mu.Lock()
	i.n--
	if i.n == 0 {
		close(i.zero)
		i.zero = nil
	}
	if i.gauge != nil {
		i.gauge.Dec()
	}
	i.mu.Unlock()
}
