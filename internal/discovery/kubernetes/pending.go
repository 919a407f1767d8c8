package kubernetes

import "github.com/drover-dev/drover/internal/discovery"

// newPending returns the queue between the informers and the follower:
// groups keyed by Key, whose first full set has only the groups that have
// targets (the follower never saw the others); see discovery.Pending.
func newPending() *discovery.Pending[discovery.Group] {
	return discovery.NewPending(func(g discovery.Group) string { return g.Key },
		func(g discovery.Group) bool { return !g.Gone && len(g.Targets) > 0 })
}
