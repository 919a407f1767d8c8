package nomad

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// pending holds the groups not yet sent to the consumer, at most one per
// allocation (a later group replaces an earlier one), and wakes the sender
// through a capacity-1 trigger channel: a burst of changes while the
// consumer is busy becomes one send.
type pending struct {
	mu      sync.Mutex
	groups  map[string]Group
	ready   bool // the first full set is complete
	sentAll bool // the first full set was sent
	trigger chan struct{}
}

func newPending() *pending {
	return &pending{groups: make(map[string]Group), trigger: make(chan struct{}, 1)}
}

// put records groups; full marks the complete state of the node, after
// which the first send may happen.
func (p *pending) put(groups []Group, full bool) {
	p.mu.Lock()
	for _, g := range groups {
		p.groups[g.AllocID] = g
	}
	if full {
		p.ready = true
	}
	notify := p.ready && (len(p.groups) > 0 || !p.sentAll)
	p.mu.Unlock()
	if notify {
		select {
		case p.trigger <- struct{}{}:
		default:
		}
	}
}

// take returns the groups to send, sorted by allocation ID, and whether
// there is anything to send. The first take after the full set returns
// the full set, even when it is empty, without gone groups (the consumer
// never saw those allocations).
func (p *pending) take() ([]Group, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ready || (len(p.groups) == 0 && p.sentAll) {
		return nil, false
	}
	out := make([]Group, 0, len(p.groups))
	for _, g := range p.groups {
		if g.Gone && !p.sentAll {
			continue
		}
		out = append(out, g)
	}
	clear(p.groups)
	p.sentAll = true
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.AllocID, b.AllocID) })
	return out, true
}

// sendLoop sends what is pending on up until ctx ends. It is the only
// goroutine that blocks on the consumer.
func (p *pending) sendLoop(ctx context.Context, up chan<- []Group, m *Metrics) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.trigger:
		}
		groups, ok := p.take()
		if !ok {
			continue
		}
		select {
		case up <- groups:
			m.GroupUpdates.Add(float64(len(groups)))
		case <-ctx.Done():
			return
		}
	}
}
