// Package health keeps the health of drover's components.
//
// A component reports conditions through its Reporter: one aspect of its
// health each ("delivery" for a sink, "discovery" for a source that watches
// an API), with a State, a short reason and since when it holds. A
// component's state is the worst of its conditions; a component without
// conditions is OK. The Registry holds the Reporter of every running
// component, for readiness, the status page and the metrics.
//
// Streak is the one way to follow a run of failures of one kind: it logs the
// first failure once, repeats at debug level, reminds while the run lasts,
// logs the recovery, and holds a condition on the component's Reporter for
// as long as the run lasts.
package health

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"
)

// State is how well a component or one of its conditions is doing. States
// are ordered: a higher one is worse.
type State uint8

// The states.
const (
	// OK: working as configured.
	OK State = iota
	// Degraded: working, but something is wrong that the operator should
	// look at (events refused by a destination, a source shipping without
	// its metadata API).
	Degraded
	// Failing: not doing its job (a sink that cannot deliver, a source
	// that cannot read).
	Failing
)

// String names the state as the admin endpoint and the logs show it.
func (s State) String() string {
	switch s {
	case OK:
		return "ok"
	case Degraded:
		return "degraded"
	case Failing:
		return "failing"
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: it reads what
// MarshalText writes.
func (s *State) UnmarshalText(b []byte) error {
	for _, st := range []State{OK, Degraded, Failing} {
		if string(b) == st.String() {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("unknown health state %q", b)
}

// Names of the conditions components report. A component may report
// others; these are the ones shared across component types.
const (
	// ConditionDelivery: a sink cannot deliver (failing while its requests
	// fail, whatever the cause).
	ConditionDelivery = "delivery"
	// ConditionRejections: a sink's destination refuses events (degraded
	// while it does).
	ConditionRejections = "rejections"
	// ConditionAPI: a source cannot reach the API it discovers or reads
	// from (the Nomad API, the event stream, the Kubernetes API).
	ConditionAPI = "api"
	// ConditionRead: a source cannot read its input (journalctl fails,
	// files cannot be opened).
	ConditionRead = "read"
	// ConditionBuffer: a sink's disk buffer cannot write (failing: the
	// batches are released failed and their sources read them again).
	ConditionBuffer = "buffer"
	// ConditionBufferPosition: a sink's disk buffer cannot save its
	// acknowledged position (degraded: delivered segments stay on disk
	// until it can).
	ConditionBufferPosition = "buffer_position"
	// ConditionDiscards: the component discarded more of its events than
	// the readiness policy allows (see Policy); set by the Monitor.
	ConditionDiscards = "discards"
)

// Condition is one aspect of a component's health that is not OK.
type Condition struct {
	// Name says which aspect: "delivery", "rejections", "discovery", ...
	Name string `json:"name"`
	// State is Degraded or Failing.
	State State `json:"state"`
	// Reason is a short snake_case cause ("unauthorized", "unreachable",
	// "not_found"), stable enough for alerting.
	Reason string `json:"reason"`
	// Message is the latest human-readable description (the last error).
	Message string `json:"message"`
	// Since is when the condition entered its State with its Reason.
	Since time.Time `json:"since"`
	// StateSince is when the condition entered its State, whatever its
	// reasons since: a sink that fails first with "unreachable", then
	// with "timeout", has been failing since the first. The readiness
	// policy measures periods from here.
	StateSince time.Time `json:"state_since"`
	// Updated is when it was last reported.
	Updated time.Time `json:"updated"`
}

// Reporter is the health of one component. It is safe for concurrent use.
// A nil *Reporter ignores every report and reads as OK, so that code built
// without one (tests, tools) needs no checks.
type Reporter struct {
	kind, typ, id string
	now           func() time.Time

	mu    sync.Mutex
	conds []Condition // sorted by Name
}

// NewReporter returns a Reporter that is not part of a Registry, for tests
// and tools; now defaults to time.Now.
func NewReporter(kind, typ, id string, now func() time.Time) *Reporter {
	if now == nil {
		now = time.Now
	}
	return &Reporter{kind: kind, typ: typ, id: id, now: now}
}

// Set reports the condition name in state st. OK removes the condition.
// Since is kept while the state and the reason stay the same, and restarts
// when either changes.
func (r *Reporter) Set(name string, st State, reason, message string) {
	if r == nil {
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	i, found := slices.BinarySearchFunc(r.conds, name, func(c Condition, n string) int { return cmp.Compare(c.Name, n) })
	switch {
	case st == OK:
		if found {
			r.conds = slices.Delete(r.conds, i, i+1)
		}
	case found:
		c := &r.conds[i]
		if c.State != st {
			c.StateSince = now
		}
		if c.State != st || c.Reason != reason {
			c.State, c.Reason, c.Since = st, reason, now
		}
		c.Message, c.Updated = message, now
	default:
		r.conds = slices.Insert(r.conds, i, Condition{Name: name, State: st, Reason: reason, Message: message, Since: now, StateSince: now, Updated: now})
	}
}

// Clear removes the condition name: that aspect is OK again.
func (r *Reporter) Clear(name string) { r.Set(name, OK, "", "") }

// State returns the component's state: the worst of its conditions.
func (r *Reporter) State() State {
	if r == nil {
		return OK
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := OK
	for _, c := range r.conds {
		st = max(st, c.State)
	}
	return st
}

// Conditions returns a copy of the component's conditions, sorted by name.
func (r *Reporter) Conditions() []Condition {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.conds)
}

// Condition returns the component's condition named name, and whether it
// holds (a condition that is OK is not held).
func (r *Reporter) Condition(name string) (Condition, bool) {
	if r == nil {
		return Condition{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conds {
		if c.Name == name {
			return c, true
		}
	}
	return Condition{}, false
}

// Component is the health of one component at one moment.
type Component struct {
	Kind       string      `json:"kind"`
	Type       string      `json:"type"`
	ID         string      `json:"id"`
	State      State       `json:"state"`
	Conditions []Condition `json:"conditions"`
}

// Snapshot returns the component's health now.
func (r *Reporter) Snapshot() Component {
	conds := r.Conditions()
	st := OK
	for _, c := range conds {
		st = max(st, c.State)
	}
	if conds == nil {
		conds = []Condition{}
	}
	return Component{Kind: r.kind, Type: r.typ, ID: r.id, State: st, Conditions: conds}
}

// Registry holds the Reporter of every running component. It is safe for
// concurrent use.
type Registry struct {
	now func() time.Time

	mu   sync.Mutex
	reps map[key]*Reporter
}

type key struct{ kind, id string }

// NewRegistry returns an empty registry; now defaults to time.Now.
func NewRegistry(now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{now: now, reps: map[key]*Reporter{}}
}

// Register returns a new, OK Reporter for the component kind/id and makes
// it the one the registry shows: New and Install in one.
func (g *Registry) Register(kind, typ, id string) *Reporter {
	r := g.New(kind, typ, id)
	g.Install(r)
	return r
}

// New returns a new, OK Reporter for the component kind/id on the
// registry's clock, without showing it yet: a component built for a reload
// that may still be refused gets its Reporter from New, and the reload
// installs it once it is committed.
func (g *Registry) New(kind, typ, id string) *Reporter { return NewReporter(kind, typ, id, g.now) }

// Install makes r the Reporter the registry shows for its component. A
// component that is rebuilt (a reload changed its configuration) starts
// with a clean Reporter: the conditions of the instance it replaces, which
// may still be draining, no longer show.
func (g *Registry) Install(r *Reporter) {
	g.mu.Lock()
	g.reps[key{r.kind, r.id}] = r
	g.mu.Unlock()
}

// Lookup returns the Reporter registered for kind/id, or nil.
func (g *Registry) Lookup(kind, id string) *Reporter {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reps[key{kind, id}]
}

// Remove forgets the component kind/id (removed by a reload).
func (g *Registry) Remove(kind, id string) {
	g.mu.Lock()
	delete(g.reps, key{kind, id})
	g.mu.Unlock()
}

// Snapshot returns the health of every registered component, sorted by
// kind and id.
func (g *Registry) Snapshot() []Component {
	g.mu.Lock()
	reps := make([]*Reporter, 0, len(g.reps))
	for _, r := range g.reps {
		reps = append(reps, r)
	}
	g.mu.Unlock()
	out := make([]Component, 0, len(reps))
	for _, r := range reps {
		out = append(out, r.Snapshot())
	}
	slices.SortFunc(out, func(a, b Component) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
	return out
}
