package vector

import (
	"time"

	"github.com/drover-dev/drover/internal/discovery/nomad"
)

// tracker is the watch's memory of the allocations that have a file: what
// to write for each, and when an allocation that stopped leaves the
// configuration. It is pure bookkeeping: times come from the caller.
//
//   - An allocation with targets is tracked with its rendered file.
//   - Once it is terminal or gone (garbage collected), it stays until
//     its grace period ends: the deadline is set once, at the first
//     terminal or gone group, and a later group does not move it.
//   - A group whose tasks are no longer selected drops it at once.
//   - Files found in the directory at start whose allocation is not in
//     the first full set are kept, unchanged, for the grace period.
type tracker struct {
	grace  time.Duration
	allocs map[string]*tracked
}

type tracked struct {
	// file is the allocation's rendered file; nil when its contents are
	// not known (a file found at start, or a render that failed before
	// any succeeded): the file on disk is kept as it is.
	file *File
	// until is when the allocation leaves the configuration; zero while
	// it runs.
	until time.Time
}

func newTracker(grace time.Duration) *tracker {
	return &tracker{grace: grace, allocs: make(map[string]*tracked)}
}

// adopt records the allocations that have files on disk when the watch
// starts but are not in the first full set: they leave after the grace.
func (t *tracker) adopt(keys []string, now time.Time) {
	for _, k := range keys {
		if t.allocs[k] == nil {
			t.allocs[k] = &tracked{until: now.Add(t.grace)}
		}
	}
}

// update records one group and its rendered file (ok false: the group
// has no file, or rendering failed and the last known file stays).
func (t *tracker) update(g *nomad.Group, f File, ok bool, now time.Time) {
	cur := t.allocs[g.AllocID]
	switch {
	case len(g.Targets) > 0:
		if cur == nil {
			cur = &tracked{}
			t.allocs[g.AllocID] = cur
		}
		if ok {
			cur.file = &f
		}
		if !g.Terminal {
			cur.until = time.Time{}
		} else if cur.until.IsZero() {
			cur.until = now.Add(t.grace)
		}
	case g.Gone:
		if cur != nil && cur.until.IsZero() {
			cur.until = now.Add(t.grace)
		}
	default: // no longer selected
		delete(t.allocs, g.AllocID)
	}
}

// expire drops the allocations whose grace period ended by now.
func (t *tracker) expire(now time.Time) (dropped []string) {
	for id, a := range t.allocs {
		if !a.until.IsZero() && !now.Before(a.until) {
			delete(t.allocs, id)
			dropped = append(dropped, id)
		}
	}
	return dropped
}

// next returns the earliest deadline, and false when there is none.
func (t *tracker) next() (time.Time, bool) {
	var min time.Time
	for _, a := range t.allocs {
		if !a.until.IsZero() && (min.IsZero() || a.until.Before(min)) {
			min = a.until
		}
	}
	return min, !min.IsZero()
}

// plan returns what the directory should hold.
func (t *tracker) plan(placeholder *File) Plan {
	p := Plan{Write: make(map[string]File), Keep: make(map[string]bool), Placeholder: placeholder}
	for id, a := range t.allocs {
		if a.file != nil {
			p.Write[id] = *a.file
		} else {
			p.Keep[id] = true
		}
	}
	return p
}
