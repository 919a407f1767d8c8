package nomad

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/nomad/api"
)

// lookupReuse is how long the list read for one lookup answers further
// lookups: a new allocation's files appear together, one read serves all.
const lookupReuse = time.Second

// flight is one list read shared by concurrent lookups.
type flight struct {
	done   chan struct{}
	allocs []*api.Allocation
	err    error
	at     time.Time
}

// Lookup returns the group of an allocation on demand, for a log file that
// appears before the watch reported its allocation. The state of the
// running watch answers first; otherwise the node's list is read once
// (concurrent lookups share one read, and a read serves lookups for a
// second).
//
// found is false when Nomad does not list the allocation on this node. A
// found group without targets means its tasks are not selected. Lookup
// does not change what Run reports: the watch reports the allocation
// through its own queries. An error (an *APIError, or ctx.Err()) means
// the API could not tell; the caller may fall back to PathMeta.
func (w *Watcher) Lookup(ctx context.Context, allocID string) (g Group, found bool, err error) {
	w.stateMu.RLock()
	s := w.known[allocID]
	if s != nil {
		g = s.group
	}
	w.stateMu.RUnlock()
	if s != nil {
		return g, true, nil
	}
	node, err := w.resolveNode(ctx, false)
	if err != nil {
		return Group{}, false, err
	}
	allocs, err := w.lookupList(ctx, node.ID)
	if err != nil {
		return Group{}, false, err
	}
	for _, a := range allocs {
		if a != nil && a.ID == allocID && validAllocID(a.ID) {
			return w.builder(node).Group(a, nil), true, nil
		}
	}
	return Group{}, false, nil
}

// lookupList reads the node's list for lookups, sharing reads.
func (w *Watcher) lookupList(ctx context.Context, nodeID string) ([]*api.Allocation, error) {
	for {
		w.lookupMu.Lock()
		if l := w.lookupLast; l != nil && l.err == nil && time.Since(l.at) < lookupReuse {
			w.lookupMu.Unlock()
			return l.allocs, nil
		}
		if f := w.lookupCur; f != nil {
			w.lookupMu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if f.err != nil && (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
				continue // the reader's own context ended; read again
			}
			return f.allocs, f.err
		}
		f := &flight{done: make(chan struct{})}
		w.lookupCur = f
		w.lookupMu.Unlock()

		start := time.Now()
		f.allocs, _, f.err = w.list(ctx, nodeID, 0, 0)
		w.m.RequestDuration("lookup").Observe(time.Since(start).Seconds())
		if f.err != nil && ctx.Err() == nil {
			w.countError(f.err)
		}
		f.at = time.Now()

		w.lookupMu.Lock()
		w.lookupCur = nil
		w.lookupLast = f
		w.lookupMu.Unlock()
		close(f.done)
		// The list answers lookups for lookupReuse only: let it go then
		// rather than keep a node's whole list until the next lookup.
		time.AfterFunc(lookupReuse, func() {
			w.lookupMu.Lock()
			if w.lookupLast == f {
				w.lookupLast = nil
			}
			w.lookupMu.Unlock()
		})
		return f.allocs, f.err
	}
}
