package kubernetes

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/drover-dev/drover/internal/discovery"
)

// pending holds the groups not yet sent, at most one per key (a later
// group replaces an earlier one), and wakes the sender through a
// capacity-1 trigger channel: a burst of changes while the follower is
// busy becomes one send, and the informers never wait on the follower.
type pending struct {
	mu      sync.Mutex
	groups  map[string]discovery.Group
	ready   bool // the first full set is complete
	sentAll bool // the first full set was sent
	trigger chan struct{}
}

func newPending() *pending {
	return &pending{groups: make(map[string]discovery.Group), trigger: make(chan struct{}, 1)}
}

// put records groups; full marks the complete state, after which the
// first send may happen.
func (p *pending) put(groups []discovery.Group, full bool) {
	p.mu.Lock()
	for _, g := range groups {
		p.groups[g.Key] = g
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

// take returns the groups to send, sorted by key. The first take after
// the full set returns the full set, even when empty, with only the
// groups that have targets (the follower never saw the others).
func (p *pending) take() ([]discovery.Group, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ready || (len(p.groups) == 0 && p.sentAll) {
		return nil, false
	}
	out := make([]discovery.Group, 0, len(p.groups))
	for _, g := range p.groups {
		if !p.sentAll && (g.Gone || len(g.Targets) == 0) {
			continue
		}
		out = append(out, g)
	}
	clear(p.groups)
	p.sentAll = true
	slices.SortFunc(out, func(a, b discovery.Group) int { return strings.Compare(a.Key, b.Key) })
	return out, true
}

// sendLoop sends what is pending on up until ctx ends.
func (p *pending) sendLoop(ctx context.Context, up chan<- []discovery.Group, m *Metrics) {
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
