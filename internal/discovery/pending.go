package discovery

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// Pending is the queue between a discoverer's watchers and its consumer:
// it holds the groups not yet sent, at most one per key (a later group
// replaces an earlier one), and wakes the sender through a capacity-1
// trigger channel, so that a burst of changes while the consumer is busy
// becomes one send and the watchers never wait on the consumer. Nothing is
// sent before the first full set is complete; that set is sent first, even
// when it is empty. G is the discoverer's group type.
type Pending[G any] struct {
	key        func(G) string
	inFirstSet func(G) bool

	mu      sync.Mutex
	groups  map[string]G
	ready   bool // the first full set is complete
	sentAll bool // the first full set was sent
	trigger chan struct{}
}

// NewPending returns an empty Pending. key is a group's key; inFirstSet
// says whether a group belongs in the first full set (a gone group does
// not: the consumer never saw it).
func NewPending[G any](key func(G) string, inFirstSet func(G) bool) *Pending[G] {
	return &Pending[G]{key: key, inFirstSet: inFirstSet, groups: make(map[string]G), trigger: make(chan struct{}, 1)}
}

// Put records groups; full marks the complete state, after which the
// first send may happen.
func (p *Pending[G]) Put(groups []G, full bool) {
	p.mu.Lock()
	for _, g := range groups {
		p.groups[p.key(g)] = g
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

// Take returns the groups to send, sorted by key, and whether there is
// anything to send. The first Take after the full set returns the full
// set, even when it is empty, with only the groups inFirstSet accepts.
func (p *Pending[G]) Take() ([]G, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ready || (len(p.groups) == 0 && p.sentAll) {
		return nil, false
	}
	out := make([]G, 0, len(p.groups))
	for _, g := range p.groups {
		if !p.sentAll && !p.inFirstSet(g) {
			continue
		}
		out = append(out, g)
	}
	clear(p.groups)
	p.sentAll = true
	slices.SortFunc(out, func(a, b G) int { return strings.Compare(p.key(a), p.key(b)) })
	return out, true
}

// SendLoop sends what is pending on up until ctx ends, calling sent with
// the number of groups of every send. It is the only goroutine that
// blocks on the consumer.
func (p *Pending[G]) SendLoop(ctx context.Context, up chan<- []G, sent func(groups int)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.trigger:
		}
		groups, ok := p.Take()
		if !ok {
			continue
		}
		select {
		case up <- groups:
			sent(len(groups))
		case <-ctx.Done():
			return
		}
	}
}
