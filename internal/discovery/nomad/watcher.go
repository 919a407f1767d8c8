package nomad

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/health"
)

// Options configure a Watcher.
type Options struct {
	// Config holds the discovery settings; it must have passed Validate.
	Config Config
	// SourceID is the Source of every event.Meta built (the id of the
	// nomad_logs component).
	SourceID string
	// Client talks to Nomad; nil builds one from Config.Nomad.
	Client *api.Client
	// Logger receives the watcher's logs; nil discards them.
	Logger *slog.Logger
	// Metrics are the watcher's instruments; nil uses unregistered ones.
	Metrics *Metrics
	// Health receives the "api" condition: failing while Nomad cannot be
	// reached or refuses the watcher's requests. Nil reports nowhere.
	Health *health.Reporter
}

// Watcher discovers the task log streams of one Nomad client node: it
// watches the node's allocation list with blocking queries and reports
// allocation groups (see the package documentation for the contract).
type Watcher struct {
	cfg    Config
	client *api.Client
	// streams: client's transport tells the response headers, so that
	// lists are read one allocation at a time (streamAllocations).
	streams  bool
	log      *slog.Logger
	m        *Metrics
	health   *health.Reporter
	sourceID string
	sel      *Selector
	running  atomic.Bool

	nodeMu   sync.Mutex
	node     Node
	resolved bool
	// partial is what the agent told when the node's own description
	// could not be read: its ID and alloc dir, enough to find log files.
	partial Node

	stateMu sync.RWMutex
	known   map[string]*allocState

	lookupMu   sync.Mutex
	lookupCur  *flight
	lookupLast *flight
}

// allocState is what the watcher remembers of one allocation of the list.
type allocState struct {
	group            Group
	modifyIndex      uint64
	allocModifyIndex uint64
	// sent: the last group put for the consumer had targets.
	sent bool
}

// New returns a watcher. It validates the configuration and builds the
// client, but does not contact Nomad.
func New(opts Options) (*Watcher, error) {
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("nomad discovery configuration: %w", err)
	}
	sel, err := NewSelector(cfg.Include, cfg.Exclude)
	if err != nil {
		return nil, err
	}
	client, streams := opts.Client, false
	if client == nil {
		if client, streams, err = newStreamingClient(cfg.Nomad.APIConfig()); err != nil {
			return nil, err
		}
	}
	if client == nil {
		if client, err = cfg.Nomad.NewClient(); err != nil {
			return nil, err
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := opts.Metrics
	if m == nil {
		m = testMetrics()
	}
	return &Watcher{
		cfg: cfg, client: client, streams: streams, log: log, m: m, health: opts.Health, sourceID: opts.SourceID, sel: sel,
		known: make(map[string]*allocState),
	}, nil
}

// Node returns the watched node and true once it was resolved from the
// agent. Before that it returns false and what is known: what the agent
// told when only the node's own description could not be read (its ID and
// alloc dir, the name of the agent's node), else the configured node_id
// and alloc_dir (either may be empty).
func (w *Watcher) Node() (Node, bool) {
	w.nodeMu.Lock()
	defer w.nodeMu.Unlock()
	if w.resolved {
		return w.node, true
	}
	if w.partial.ID != "" && w.partial.AllocDir != "" {
		return w.partial, false
	}
	return Node{ID: w.cfg.NodeID, AllocDir: w.cfg.AllocDir, Region: w.cfg.Nomad.Region}, false
}

// resolveNode returns the resolved node, resolving it when it is not yet
// or when fresh is set (a Run starts: the agent may have a new node id
// since the last Run). A failed fresh resolution keeps the known node.
func (w *Watcher) resolveNode(ctx context.Context, fresh bool) (Node, error) {
	w.nodeMu.Lock()
	defer w.nodeMu.Unlock()
	if w.resolved && !fresh {
		return w.node, nil
	}
	start := time.Now()
	n, err := ResolveNode(ctx, w.client, &w.cfg)
	w.m.RequestDuration("node").Observe(time.Since(start).Seconds())
	if err != nil {
		w.countError(err)
		if n.ID != "" && n.AllocDir != "" {
			// The agent answered; only the node's description failed
			// (node:read missing, the node endpoint failing): its log
			// files can be found meanwhile.
			w.partial = n
		}
		return Node{}, err
	}
	w.node, w.resolved = n, true
	return n, nil
}

func (w *Watcher) builder(n Node) *Builder {
	return &Builder{SourceID: w.sourceID, Node: n, Selector: w.sel}
}

// Run watches the node's allocations and sends groups on up until ctx
// ends, then returns nil. It does not close up.
//
// The first send is the full set: a group for every allocation with
// targets (an empty slice when there is none). Later sends hold only the
// groups that changed, at most one per allocation, each replacing the
// previous group of its allocation. Run never blocks its watch on the
// consumer: changes that arrive while a send is waiting are merged.
//
// Before the first full set, errors that retrying cannot fix end Run: a
// 403 (the *APIError names the missing ACL capability), an unknown node
// id, ErrNotClient. Network and server errors are retried with
// exponential backoff, logged once per failure streak. After the first
// full set every error is retried. Run may be called again after it
// returned; it starts over with a full set. Only one Run may be active.
func (w *Watcher) Run(ctx context.Context, up chan<- []Group) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("nomad discovery: Run is already active")
	}
	defer w.running.Store(false)

	node, err := w.resolveWithRetry(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	w.log.Info("watching Nomad allocations", "node_id", node.ID, "node_name", node.Name, "alloc_dir", node.AllocDir)

	w.stateMu.Lock()
	w.known = make(map[string]*allocState)
	w.stateMu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := newPending()
	var wg sync.WaitGroup
	wg.Go(func() { p.SendLoop(ctx, up, func(n int) { w.m.GroupUpdates.Add(float64(n)) }) })
	err = w.watch(ctx, node, p)
	cancel()
	wg.Wait()
	return err
}

// resolveWithRetry resolves the node, retrying errors that may pass.
func (w *Watcher) resolveWithRetry(ctx context.Context) (Node, error) {
	st := w.newStreak("resolving the Nomad node")
	for {
		n, err := w.resolveNode(ctx, true)
		if err == nil {
			st.ok()
			return n, nil
		}
		if ctx.Err() != nil {
			return Node{}, ctx.Err()
		}
		if permanent(err) {
			return Node{}, err
		}
		if !backoff.Sleep(ctx, st.fail(err)) {
			return Node{}, ctx.Err()
		}
	}
}

// permanent reports whether an error cannot pass by retrying: 403, 404,
// ErrNotClient, or an error that is not about talking to the API.
func permanent(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Permanent()
	}
	return true
}

func (w *Watcher) countError(err error) {
	if k := kindOf(err); k != "" {
		w.m.APIErrors(k).Inc()
	}
}

// Request timeouts beyond the blocking wait: Nomad adds up to wait/16 of
// jitter; the grace covers a slow answer of a big list.
const (
	requestGrace = 30 * time.Second
	fullTimeout  = time.Minute
)

// list reads the node's allocations: a blocking query when index > 0.
func (w *Watcher) list(ctx context.Context, nodeID string, index uint64, wait time.Duration) ([]*api.Allocation, *api.QueryMeta, error) {
	timeout := fullTimeout
	q := &api.QueryOptions{}
	if index > 0 {
		q.WaitIndex, q.WaitTime = index, wait
		timeout = wait + wait/16 + requestGrace
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	path := "/v1/node/" + nodeID + "/allocations"
	var (
		allocs []*api.Allocation
		meta   *api.QueryMeta
		err    error
	)
	if w.streams {
		allocs, meta, err = streamAllocations(w.client, path, q.WithContext(rctx))
	} else {
		var slim []*slimAlloc
		if meta, err = w.client.Raw().Query(path, &slim, q.WithContext(rctx)); err == nil {
			allocs = allocations(slim)
		}
	}
	op := "listing the allocations of node " + nodeID
	if err == nil && meta.LastIndex == 0 {
		err = errors.New("answer without X-Nomad-Index")
		return nil, nil, &APIError{Op: op, Path: path, Kind: KindBadResponse, Capability: capNodeAllocs, Err: err}
	}
	if err != nil {
		return nil, nil, newAPIError(ctx, op, path, capNodeAllocs, err)
	}
	return allocs, meta, nil
}

// watch is the loop of blocking queries. It returns nil when ctx ends, or
// a permanent error met before the first full set.
func (w *Watcher) watch(ctx context.Context, node Node, p *pending) error {
	st := w.newStreak("watching the Nomad node's allocations")
	var index uint64 // 0: the next request reads the whole list
	first := true
	nextResync := time.Now().Add(w.cfg.ResyncInterval)
	for ctx.Err() == nil {
		q, wait, resync := index, w.cfg.BlockingWait, false
		if q != 0 {
			until := time.Until(nextResync)
			switch {
			case until <= 0:
				q, resync = 0, true
			case until < wait:
				wait = until
			}
		}
		request := "blocking"
		if q == 0 {
			request = "full"
		}
		start := time.Now()
		allocs, meta, err := w.list(ctx, node.ID, q, wait)
		w.m.RequestDuration(request).Observe(time.Since(start).Seconds())
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.countError(err)
			if first && permanent(err) {
				return err
			}
			index = 0 // state may have moved on (or back): read it all again
			if !backoff.Sleep(ctx, st.fail(err)) {
				return nil
			}
			continue
		}
		st.ok()
		w.m.LastSync.SetToCurrentTime()
		switch {
		case q != 0 && meta.LastIndex == q && w.knowsExactly(allocs):
			continue // the wait ended without a change
		case meta.LastIndex < q:
			w.m.IndexResets.Inc()
			w.log.Info("Nomad index went backwards (cluster restored or agent restarted): reading allocations again",
				"node_id", node.ID, "index", q, "new_index", meta.LastIndex)
			index = 0
			continue
		}
		index = meta.LastIndex
		if q == 0 {
			nextResync = time.Now().Add(w.cfg.ResyncInterval)
		}
		if resync {
			w.m.Resyncs.Inc()
		}
		w.apply(node, allocs, resync, first, p)
		w.m.Index.Set(float64(index))
		first = false
	}
	return nil
}

// knowsExactly reports whether the list holds exactly the known
// allocations. Nomad's index for a node's list is the highest ModifyIndex
// of its allocations: garbage collection does not raise it, so a list
// with the same index can still have lost allocations.
func (w *Watcher) knowsExactly(allocs []*api.Allocation) bool {
	w.stateMu.RLock()
	defer w.stateMu.RUnlock()
	n := 0
	for _, a := range allocs {
		if a == nil || !validAllocID(a.ID) {
			continue
		}
		if w.known[a.ID] == nil {
			return false
		}
		n++
	}
	return n == len(w.known)
}

// apply compares a fresh list with the known state and puts the groups
// that changed for the consumer.
func (w *Watcher) apply(node Node, allocs []*api.Allocation, resync, full bool, p *pending) {
	b := w.builder(node)
	var out []Group
	seen := make(map[string]bool, len(allocs))
	corrections := 0

	w.stateMu.Lock()
	for _, a := range allocs {
		if a == nil || !validAllocID(a.ID) || seen[a.ID] {
			continue
		}
		seen[a.ID] = true
		s := w.known[a.ID]
		if s != nil && s.modifyIndex == a.ModifyIndex && s.allocModifyIndex == a.AllocModifyIndex {
			continue
		}
		var prev *Group
		if s == nil {
			s = &allocState{}
			w.known[a.ID] = s
		} else {
			prev = &s.group
		}
		g := b.Group(a, prev)
		changed := prev == nil || !sameGroup(prev, &g)
		s.group, s.modifyIndex, s.allocModifyIndex = g, a.ModifyIndex, a.AllocModifyIndex
		if resync && !full {
			corrections++
		}
		switch {
		case len(g.Targets) > 0 && (changed || !s.sent):
			out = append(out, g)
			s.sent = true
		case len(g.Targets) == 0 && s.sent:
			out = append(out, g) // no longer selected
			s.sent = false
		}
	}
	for id, s := range w.known {
		if seen[id] {
			continue
		}
		if resync {
			corrections++
		}
		if s.sent {
			out = append(out, Group{AllocID: id, Gone: true})
		}
		delete(w.known, id)
	}
	var selected, unselected, targets int
	for _, s := range w.known {
		if n := len(s.group.Targets); n > 0 {
			selected++
			targets += n
		} else {
			unselected++
		}
	}
	w.stateMu.Unlock()

	w.m.AllocationsSelected.Set(float64(selected))
	w.m.AllocationsUnselected.Set(float64(unselected))
	w.m.Targets.Set(float64(targets))
	if corrections > 0 {
		w.m.ResyncCorrections.Add(float64(corrections))
		w.log.Debug("resync found changes the blocking queries had not reported", "allocations", corrections)
	}
	p.Put(out, full)
}

// validAllocID reports whether an allocation ID can be a directory name.
func validAllocID(id string) bool { return validTaskName(id) && id[0] != '.' }

// streak paces the retries of one kind of request and logs a failure
// streak once, and its end; while it lasts, the source's "api" condition is
// failing.
type streak struct {
	what string
	bo   backoff.Backoff
	log  *health.Streak
}

func (w *Watcher) newStreak(what string) *streak {
	return &streak{
		what: what,
		bo:   backoff.Backoff{Initial: w.cfg.RetryInitialBackoff, Max: w.cfg.RetryMaxBackoff},
		log: health.NewStreak(health.StreakConfig{Logger: w.log, Health: w.health, Condition: health.ConditionAPI,
			Remind: health.DefaultRemind}),
	}
}

// fail records a failure and returns the wait before the next attempt. The
// first failure of a streak, and a failure of another kind than the
// previous one, are logged as warnings; the others at debug level.
func (s *streak) fail(err error) time.Duration {
	d := s.bo.Next()
	s.log.Fail(s.what+" failed; retrying with backoff until it works", string(kindOf(err)), err, 0,
		"retry_in", d.Round(time.Millisecond))
	return d
}

// ok ends a failure streak, logging the recovery.
func (s *streak) ok() {
	s.bo.Reset()
	s.log.End(s.what + " works again")
}
