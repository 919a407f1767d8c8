package nomad

import "github.com/drover-dev/drover/internal/discovery"

// pending holds the groups not yet sent to the consumer, at most one per
// allocation; see discovery.Pending.
type pending = discovery.Pending[Group]

// newPending returns the queue of a watcher: groups keyed by allocation
// ID, whose first full set leaves out gone groups (the consumer never saw
// those allocations).
func newPending() *pending {
	return discovery.NewPending(func(g Group) string { return g.AllocID }, func(g Group) bool { return !g.Gone })
}
