package follow

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/status"
)

// How the follower shows its targets to the status page (Targets). The
// run loop owns the chains, so it builds the snapshots, and only while
// someone looks: within statusInterest of the last call of Targets, at
// most every statusRefresh. A caller whose snapshot is older than
// statusStale wakes the run loop and waits up to statusWait for a new one.
const (
	statusInterest = 5 * time.Minute
	statusRefresh  = 250 * time.Millisecond
	statusStale    = time.Second
	statusWait     = time.Second
)

// statusBoard is where the run loop publishes snapshots of the targets.
type statusBoard struct {
	asked atomic.Int64 // UnixNano of the last Targets call; 0: never
	cur   atomic.Pointer[targetsSnapshot]

	mu    sync.Mutex
	fresh chan struct{} // closed when a snapshot is published

	// released are the targets released with their position kept (read
	// to their end, or no longer named), by key, shown until the position
	// is forgotten or the target is followed again. The run loop only.
	released map[string]*chain

	// clock is the UnixNano of the run loop's last iteration: the time
	// the commit hooks store (commitHook), read with one atomic load
	// instead of a clock read per acknowledgement. The run loop wakes at
	// least every scan interval, so it is at most that old.
	clock atomic.Int64
}

// tick sets the clock; the run loop calls it at every iteration.
func (b *statusBoard) tick(now time.Time) { b.clock.Store(now.UnixNano()) }

type targetsSnapshot struct {
	at      time.Time
	targets []status.Target
}

// freshSignal returns the channel the next publication closes.
func (b *statusBoard) freshSignal() chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fresh == nil {
		b.fresh = make(chan struct{})
	}
	return b.fresh
}

func (b *statusBoard) publish(s *targetsSnapshot) {
	b.cur.Store(s)
	b.mu.Lock()
	if b.fresh != nil {
		close(b.fresh)
		b.fresh = nil
	}
	b.mu.Unlock()
}

// Targets returns the targets the follower follows now, with their state
// and positions, for the status page (status.Describer). It is safe to
// call at any time from any goroutine; it never waits for the pipeline,
// and for the run loop at most a second. The first call after a while
// starts the snapshots; a target's LastAcknowledged is exact from the
// start (the commit hook of its files stores it, see commitHook).
func (f *Follower) Targets() []status.Target {
	now := time.Now()
	f.board.asked.Store(now.UnixNano())
	cur := f.board.cur.Load()
	if cur != nil && now.Sub(cur.at) < statusStale || !f.running.Load() {
		return cloneTargets(cur)
	}
	fresh := f.board.freshSignal()
	select {
	case f.room <- struct{}{}: // wake the run loop if it sleeps
	default:
	}
	timer := time.NewTimer(statusWait)
	defer timer.Stop()
	select {
	case <-fresh:
	case <-timer.C:
	}
	return cloneTargets(f.board.cur.Load())
}

func cloneTargets(s *targetsSnapshot) []status.Target {
	if s == nil {
		return []status.Target{}
	}
	return append([]status.Target{}, s.targets...)
}

// publishStatus builds a snapshot of the targets when someone looks. It
// runs on the run loop.
func (f *Follower) publishStatus(now time.Time) {
	asked := f.board.asked.Load()
	if asked == 0 || now.UnixNano()-asked > int64(statusInterest) {
		return // nobody looks: cost nothing
	}
	if cur := f.board.cur.Load(); cur != nil && now.Sub(cur.at) < statusRefresh {
		return
	}
	out := make([]status.Target, 0, len(f.order)+len(f.board.released))
	for _, c := range f.order {
		if c.closed {
			continue
		}
		out = append(out, chainStatus(c))
	}
	out = f.releasedStatus(out)
	f.board.publish(&targetsSnapshot{at: now, targets: out})
}

// noteReleased keeps a chain released with its position kept, so that the
// status shows it released (and whether its last lines were acknowledged)
// until its position is forgotten. It runs on the run loop, from forget.
func (f *Follower) noteReleased(c *chain) {
	if f.board.released == nil {
		f.board.released = map[string]*chain{}
	}
	f.board.released[c.key] = c
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.board.released) > 2*len(f.positions)+64 {
		f.pruneReleased() // nobody looked for a while
	}
}

// pruneReleased drops the released chains whose position was forgotten or
// belongs to a chain followed again. f.mu is held.
func (f *Follower) pruneReleased() {
	for k, c := range f.board.released {
		if f.positions[k] != c.pos || f.chains[k] != nil {
			delete(f.board.released, k)
		}
	}
}

// releasedStatus appends the released targets to out: state released,
// acknowledged up to their position, unacknowledged while a batch of
// theirs is in flight. It runs on the run loop.
func (f *Follower) releasedStatus(out []status.Target) []status.Target {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneReleased()
	for _, c := range f.board.released {
		t := chainStatus(c)
		t.State, t.Reason, t.Files, t.BytesBehind = status.StateReleased, "", 0, 0
		n, _, off, ok := c.pos.current()
		t.Acknowledged, t.ReadOffset = off, off
		if p := c.pos.filePath(n); ok && p != "" {
			t.Path = p
		}
		for _, fp := range c.pos.files {
			if fp.prog.Pending() > 0 || fp.prog.Failed() {
				t.Unacknowledged = true
			}
		}
		out = append(out, t)
	}
	return out
}

// chainStatus describes one chain. It runs on the run loop.
func chainStatus(c *chain) status.Target {
	t := status.Target{Key: c.key, Kind: targetKind(c.t.Scheme), Files: len(c.files)}
	if len(c.t.Attrs) > 0 {
		t.Labels = make(map[string]string, len(c.t.Attrs))
		for _, a := range c.t.Attrs {
			t.Labels[a.Key] = a.Value.String()
		}
	}
	if c.meta != nil && c.meta.Fields != nil {
		// The names an operator looks a target up by (drover explain job/task).
		for _, k := range metaLabels {
			if v, ok := c.meta.Fields.Get(k[1]); ok && v.Str() != "" {
				if t.Labels == nil {
					t.Labels = map[string]string{}
				}
				t.Labels[k[0]] = v.Str()
			}
		}
	}
	if !c.lastGrowth.IsZero() && c.started {
		t.LastRead = c.lastGrowth
	}
	t.LastAcknowledged = c.lastAcknowledged()
	t.Path = c.t.Path()
	if len(c.files) > 0 {
		cf := c.files[0]
		t.Path = cf.r.Path()
		t.ReadOffset = cf.r.Offset()
		t.BytesBehind = c.behindBytes()
		if cf.fp != nil {
			t.Acknowledged = cf.fp.prog.Committed()
		}
		for _, f := range c.files {
			if f.fp != nil && f.fp.prog.Pending() > 0 {
				t.Unacknowledged = true
			}
		}
	}
	switch {
	case c.readErr != "":
		t.State, t.Reason = status.StateFailing, c.readErr
	case !c.ready:
		t.State = status.StateWaitingMetadata
	case c.waitingRoom:
		t.State = status.StateWaitingRoom
	case c.terminal || c.gone || !c.endAt.IsZero():
		t.State = status.StateDraining
	case len(c.files) == 0:
		t.State = status.StateWaitingFile
	case c.files[0].r.Parked():
		t.State = status.StateParked
	default:
		t.State = status.StateFollowing
	}
	return t
}

// metaLabels are the label names and the metadata paths they come from.
var metaLabels = [][2]string{
	{"namespace", "nomad.namespace"}, {"job", "nomad.job_name"}, {"group", "nomad.group_name"},
	{"namespace", "kubernetes.namespace"}, {"pod", "kubernetes.pod_name"}, {"pod_uid", "kubernetes.pod_uid"},
	{"container", "kubernetes.container_name"},
}

func targetKind(s discovery.Scheme) string {
	switch s {
	case discovery.Numbered:
		return status.TargetNomadStream
	case discovery.Kubernetes:
		return status.TargetPod
	}
	return status.TargetFile
}

// FilesStatus is what a follower's open-file budget did since it started,
// for the status page.
type FilesStatus struct {
	// MaxOpenFiles is the budget (max_open_files).
	MaxOpenFiles int `json:"max_open_files"`
	// Parked, Reopened, OverBudget, Deferred and Vanished count the files
	// closed while idle, opened again, opened over the budget, whose
	// opening waited for room, and deleted while parked.
	Parked     int64 `json:"parked_total"`
	Reopened   int64 `json:"reopened_total"`
	OverBudget int64 `json:"over_budget_total"`
	Deferred   int64 `json:"deferred_total"`
	Vanished   int64 `json:"vanished_total"`
}

// FilesStatus returns the budget's counts; safe from any goroutine.
func (f *Follower) FilesStatus() FilesStatus {
	st := f.budget.Stats()
	return FilesStatus{MaxOpenFiles: f.budget.Max(), Parked: st.Parked, Reopened: st.Reopened,
		OverBudget: st.Over, Deferred: st.Deferred, Vanished: st.Vanished}
}
