package nomad

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/fswatch"
	"github.com/drover-dev/drover/internal/metrics"
)

// Timings of the Discoverer.
const (
	// lookupRetry is the pause between two lookups of an allocation the API
	// did not know.
	lookupRetry = 2 * time.Second
	// minDirScanGap rate-limits the scans of the alloc dir that fsnotify
	// events ask for.
	minDirScanGap = 50 * time.Millisecond
)

// DiscovererOptions configure a Discoverer.
type DiscovererOptions struct {
	// Watcher watches the node's allocations through the API.
	Watcher *Watcher
	// Config is the discovery configuration the Watcher was built with
	// (alloc_dir, retry_max_backoff, include.tasks and exclude.tasks for
	// the allocations the API does not describe).
	Config Config
	// SourceID is the Source of the path-only metadata.
	SourceID string
	// ScanInterval is the period of the scan of the alloc dir.
	ScanInterval time.Duration
	// UseFsnotify scans at once when an allocation directory, or a log
	// file of an allocation the API has not described, appears.
	UseFsnotify bool
	// NewWatcher starts fsnotify (nil: fswatch.New).
	NewWatcher fswatch.Starter
	// UnknownAllocWait is how long the log files of an allocation the API
	// does not describe wait for its metadata before they are shipped with
	// the metadata their path gives.
	UnknownAllocWait time.Duration
	// LastAllocDir is the alloc dir of the last run (from the checkpoint),
	// used while alloc_dir is not configured and the agent has not told.
	LastAllocDir func() string
	// OnAllocDir, if set, is called with the alloc dir in use whenever it
	// changes (to save it with the checkpoint).
	OnAllocDir func(string)
	// Logger and Metrics are the source's; DiscoveryLag and PathMeta, if
	// set, are kept: seconds since the API last answered the watch, and
	// streams shipped with path-only metadata.
	Logger       *slog.Logger
	Metrics      *metrics.Component
	DiscoveryLag prometheus.Gauge
	PathMeta     prometheus.Counter
}

// Discoverer reports the task log streams of one Nomad client node as
// discovery groups: one group per allocation, one Numbered target per
// task x stream, keyed "<alloc_id>/<task>/<stream>". It merges two
// sources of knowledge:
//
//   - the Watcher's groups (the API: metadata, terminal, garbage
//     collected, selection);
//   - the alloc dir on disk, scanned every scan_interval and watched with
//     fsnotify: log files of an allocation the API has not described (not
//     listed yet, not readable with the token, API unreachable) become
//     targets without metadata at once (the follower holds their files
//     open), the allocation is looked up (Watcher.Lookup), and if the API
//     does not describe it within unknown_alloc_wait, its targets get the
//     metadata their path gives (PathMeta), selected by task name only.
//
// The first send (the full set) comes once the alloc dir was listed (or,
// when it cannot be listed, once the API's full set came): the
// allocations on disk and those the API describes. A watch that fails for
// good (403, unknown node, not a client) is logged, counted
// (errors_total{stage="discovery"}) and started again after
// retry_max_backoff; meanwhile files are shipped with the metadata their
// path gives. Run never returns an error.
type Discoverer struct {
	o   DiscovererOptions
	w   *Watcher
	sel *Selector // tasks of allocations the API does not describe
	log *slog.Logger

	// Run state.
	allocDir string
	allocs   map[string]*nodeAlloc
	pending  map[string]bool // allocations whose group changed since the last send
	failing  map[string]string
	watcher  *fswatch.Watcher
	listed   bool // the alloc dir was listed once
	apiFull  bool // the watch's full set came
	sentFull bool
	updates  chan apiUpdate
	lookups  chan lookupResult
}

// nodeAlloc is what the discoverer knows of one allocation.
type nodeAlloc struct {
	id    string
	group *Group // from the API; nil while it has not described it
	// onDisk are the streams found on disk while the API has not
	// described the allocation, by key.
	onDisk map[string]streamRef
	// For allocations without a group: when its log files were first
	// found, when to look it up again, whether a lookup is running, and
	// whether the wait ran out (its streams use path metadata).
	firstSeen  time.Time
	nextLookup time.Time
	lookingUp  bool
	pathOnly   bool
	pathMeta   map[string]*event.Meta
}

type streamRef struct {
	task   string
	stream Stream
}

type apiUpdate struct {
	groups []Group
	full   bool
}

type lookupResult struct {
	allocID string
	group   Group
	found   bool
	err     error
}

// NewDiscoverer returns a discoverer around a watcher.
func NewDiscoverer(o DiscovererOptions) (*Discoverer, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ScanInterval <= 0 {
		o.ScanInterval = time.Second
	}
	sel, err := NewSelector(Selection{Tasks: o.Config.Include.Tasks}, Selection{Tasks: o.Config.Exclude.Tasks})
	if err != nil {
		return nil, err
	}
	return &Discoverer{o: o, w: o.Watcher, sel: sel, log: o.Logger}, nil
}

// TargetOf turns one of the watcher's targets into a discovery target.
func TargetOf(t *Target) discovery.Target {
	return streamTarget(t.AllocID, t.Task, t.Stream, t.LogsDir, t.Meta)
}

func streamTarget(allocID, task string, stream Stream, logsDir string, meta *event.Meta) discovery.Target {
	return discovery.Target{
		Key: allocID + "/" + task + "/" + string(stream), Dir: logsDir, Name: task + "." + string(stream),
		Scheme: discovery.Numbered, Meta: meta,
		Attrs: []slog.Attr{slog.String("alloc_id", allocID), slog.String("task", task), slog.String("stream", string(stream))},
	}
}

// KeyAttrs names a stream by its key "<alloc_id>/<task>/<stream>" in logs.
func KeyAttrs(key string) []any {
	alloc, rest, _ := strings.Cut(key, "/")
	task, stream, _ := strings.Cut(rest, "/")
	return []any{"alloc_id", alloc, "task", task, "stream", stream}
}

// Run reports the node's streams until ctx ends; see discovery.Discoverer.
func (d *Discoverer) Run(ctx context.Context, up chan<- []discovery.Group) error {
	d.allocs = map[string]*nodeAlloc{}
	d.pending = map[string]bool{}
	d.failing = map[string]string{}
	d.listed, d.apiFull, d.sentFull = false, false, false
	d.allocDir = d.o.Config.AllocDir
	if d.allocDir == "" && d.o.LastAllocDir != nil {
		if last := d.o.LastAllocDir(); last != "" {
			d.allocDir = last
			d.log.Info("reading task logs below the alloc dir of the last run until the agent tells", "alloc_dir", last)
		}
	}
	d.updates = make(chan apiUpdate)
	d.lookups = make(chan lookupResult)
	if d.allocDir != "" && d.o.OnAllocDir != nil {
		d.o.OnAllocDir(d.allocDir)
	}
	ctx, cancel := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() {
		cancel()
		bg.Wait()
	}()
	bg.Go(func() { d.watch(ctx) })
	var wake <-chan struct{}
	var errs prometheus.Counter
	if d.o.Metrics != nil {
		errs = d.o.Metrics.Errors("watch")
	}
	if w := d.o.NewWatcher.StartOrWarn(d.o.UseFsnotify, d.log, errs, "new allocations are found by scans only"); w != nil {
		d.watcher, wake = w, w.Wake()
		defer func() {
			w.Close()
			d.watcher = nil
		}()
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	var nextScan, lastScan time.Time
	scanPending := false
	for {
		now := time.Now()
		d.resolveAllocDir()
		if d.allocDir != "" && (!now.Before(nextScan) || scanPending && now.Sub(lastScan) >= minDirScanGap) {
			d.scan(now)
			lastScan, nextScan, scanPending = now, now.Add(d.o.ScanInterval), false
		}
		d.checkUnknown(ctx, now, &bg)
		if gs, ok := d.take(); ok {
			select {
			case up <- gs:
			case <-ctx.Done():
				return nil
			}
			continue
		}
		due := d.nextDue(now, nextScan)
		if scanPending {
			due = minTime(due, lastScan.Add(minDirScanGap))
		}
		timer.Reset(max(time.Until(due), 0))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-wake:
			if d.watcher.Take().Rescan() {
				scanPending = true
			}
		case u := <-d.updates:
			d.applyAPI(u, time.Now())
		case r := <-d.lookups:
			d.applyLookup(r, time.Now())
		}
	}
}

// watch runs the watcher until ctx ends and forwards its groups; a watch
// that fails for good is logged and started again after
// retry_max_backoff.
func (d *Discoverer) watch(ctx context.Context) {
	discovery.Supervise(ctx, d.w.Run, func(gs []Group, full bool) bool {
		select {
		case d.updates <- apiUpdate{groups: gs, full: full}:
			return true
		case <-ctx.Done():
			return false
		}
	}, func(err error, again bool) time.Duration {
		d.count("discovery")
		if !again {
			d.log.Error("cannot watch the node's allocations; log files are shipped with the metadata their path gives until this is fixed",
				"error", err, "retry_in", d.o.Config.RetryMaxBackoff)
		}
		return d.o.Config.RetryMaxBackoff
	})
}

func (d *Discoverer) count(stage string) {
	if d.o.Metrics != nil {
		d.o.Metrics.Errors(stage).Inc()
	}
}

// resolveAllocDir takes the alloc dir from the configuration or from the
// agent once the watcher asked it; until then, the last run's.
func (d *Discoverer) resolveAllocDir() {
	if d.o.Config.AllocDir != "" {
		return
	}
	n, _ := d.w.Node()
	if n.AllocDir == "" || n.AllocDir == d.allocDir {
		return
	}
	if d.allocDir == "" {
		d.log.Info("reading task logs below the agent's alloc dir", "alloc_dir", n.AllocDir)
	} else {
		d.log.Warn("the agent's alloc dir is not the one of the last run; reading task logs below the agent's", "alloc_dir", n.AllocDir, "last_alloc_dir", d.allocDir)
	}
	d.allocDir = n.AllocDir
	for _, a := range d.allocs {
		if a.group == nil {
			d.pending[a.id] = true // their files are below the new dir
		}
	}
	if d.o.OnAllocDir != nil {
		d.o.OnAllocDir(n.AllocDir)
	}
}

// applyAPI applies one send of the watcher. In a full set, an allocation
// known from an earlier watch and absent has nothing to ship: garbage
// collected when its directory is gone, else no longer selected.
func (d *Discoverer) applyAPI(u apiUpdate, now time.Time) {
	d.resolveAllocDir()
	if u.full {
		in := make(map[string]bool, len(u.groups))
		for _, g := range u.groups {
			in[g.AllocID] = true
		}
		for id, a := range d.allocs {
			if a.group == nil || in[id] || a.group.Gone {
				continue
			}
			g := Group{AllocID: id}
			if d.allocDir != "" {
				_, err := os.Stat(LogsDir(d.allocDir, id))
				g.Gone = os.IsNotExist(err)
			}
			d.applyGroup(g, now)
		}
		d.apiFull = true
	}
	for _, g := range u.groups {
		d.applyGroup(g, now)
	}
}

// applyGroup records the API's group of an allocation.
func (d *Discoverer) applyGroup(g Group, now time.Time) {
	a := d.allocOf(g.AllocID)
	if a.group == nil && g.Gone && len(a.onDisk) == 0 {
		delete(d.allocs, g.AllocID) // never followed
		d.pending[g.AllocID] = true
		return
	}
	gg := g
	a.group = &gg
	if !g.Gone {
		// Described: its targets are the API's from now on.
		clear(a.onDisk)
		a.pathOnly = false
	}
	d.pending[g.AllocID] = true
}

func (d *Discoverer) allocOf(id string) *nodeAlloc {
	a := d.allocs[id]
	if a == nil {
		a = &nodeAlloc{id: id, onDisk: map[string]streamRef{}}
		d.allocs[id] = a
	}
	return a
}

// scan lists the alloc dir and, for every allocation the API has not
// described, its log directory: streams found there become targets
// without metadata, to be held open at once.
func (d *Discoverer) scan(now time.Time) {
	entries, err := os.ReadDir(d.allocDir)
	if err != nil {
		if msg := err.Error(); d.failing[d.allocDir] != msg {
			d.failing[d.allocDir] = msg
			d.count("scan")
			d.log.Error("cannot list the alloc dir; retrying at every scan", "alloc_dir", d.allocDir, "error", err)
		}
		d.syncWatches(nil)
		return
	}
	if msg, ok := d.failing[d.allocDir]; ok {
		delete(d.failing, d.allocDir)
		d.log.Info("the alloc dir can be listed again", "alloc_dir", d.allocDir, "previous_error", msg)
	}
	d.listed = true
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		if !e.IsDir() || !validAllocDir(e.Name()) {
			continue
		}
		present[e.Name()] = true
		if a := d.allocs[e.Name()]; a == nil || a.group == nil {
			d.scanUnknown(e.Name(), now)
		}
	}
	for id, a := range d.allocs {
		if present[id] {
			continue
		}
		switch {
		case a.group == nil && len(a.onDisk) > 0 && !a.pathOnly:
			// Collected before the API described it: its files are held
			// by the follower, shipped once the metadata comes or the wait
			// runs out (then it is gone, below).
		case a.group == nil, a.group.Gone, a.group.Terminal, len(a.group.Targets) == 0:
			// Gone from disk with nothing left to read: the follower
			// forgets it too. Kept: selected allocations still running,
			// whose directory may not exist yet.
			delete(d.allocs, id)
			d.pending[id] = true
			d.forgetFailures(filepath.Join(d.allocDir, id))
		}
	}
	d.syncWatches(present)
	if d.o.DiscoveryLag != nil {
		d.o.DiscoveryLag.Set(d.lag(now))
	}
}

// scanUnknown lists the log directory of an allocation the API has not
// described and records the streams of the selected tasks found there.
func (d *Discoverer) scanUnknown(id string, now time.Time) {
	logsDir := LogsDir(d.allocDir, id)
	entries, err := os.ReadDir(logsDir)
	if err != nil {
		if !os.IsNotExist(err) {
			if msg := err.Error(); d.failing[logsDir] != msg {
				d.failing[logsDir] = msg
				d.count("open")
				d.log.Error("cannot open task log file; retrying at every scan", "file", logsDir, "error", err)
			}
		}
		return
	}
	delete(d.failing, logsDir)
	var a *nodeAlloc
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		lf, ok := ParseLogFileName(e.Name())
		if !ok || !d.sel.Selected(Subject{Task: lf.Task}) {
			continue
		}
		if a == nil {
			a = d.allocOf(id)
		}
		key := id + "/" + lf.Task + "/" + string(lf.Stream)
		if _, ok := a.onDisk[key]; ok {
			continue
		}
		if len(a.onDisk) == 0 && a.firstSeen.IsZero() {
			a.firstSeen = now
			d.log.Debug("log files of an allocation the Nomad API has not described yet; looking it up", "alloc_id", id)
		}
		a.onDisk[key] = streamRef{task: lf.Task, stream: lf.Stream}
		d.pending[id] = true
	}
}

// checkUnknown looks up the allocations whose files appeared before the
// watch described them, and gives their streams path metadata once
// unknown_alloc_wait ran out.
func (d *Discoverer) checkUnknown(ctx context.Context, now time.Time, bg *sync.WaitGroup) {
	for id, a := range d.allocs {
		if a.group != nil || len(a.onDisk) == 0 || a.pathOnly {
			continue
		}
		if now.Sub(a.firstSeen) >= d.o.UnknownAllocWait {
			a.pathOnly = true
			d.pending[id] = true
			d.log.Warn("the Nomad API does not describe this allocation (not listed, not readable with the token, or the API is unreachable); shipping its logs with the metadata of their path",
				"alloc_id", id, "waited", d.o.UnknownAllocWait, "streams", len(a.onDisk))
			continue
		}
		if a.lookingUp || now.Before(a.nextLookup) {
			continue
		}
		a.lookingUp = true
		bg.Go(func() {
			g, found, err := d.w.Lookup(ctx, id)
			select {
			case d.lookups <- lookupResult{allocID: id, group: g, found: found, err: err}:
			case <-ctx.Done():
			}
		})
	}
}

// applyLookup applies a lookup's answer: the group when the API knows the
// allocation, else another lookup later.
func (d *Discoverer) applyLookup(r lookupResult, now time.Time) {
	a := d.allocs[r.allocID]
	if a == nil {
		return
	}
	a.lookingUp = false
	if r.found && a.group == nil {
		d.applyGroup(r.group, now)
		return
	}
	a.nextLookup = now.Add(lookupRetry)
	if r.err != nil {
		d.log.Debug("looking up an allocation whose log files appeared failed", "alloc_id", r.allocID, "error", r.err)
	}
}

// nextDue is when the loop must look again without an event: the next
// scan, the end of an unknown allocation's wait, its next lookup.
func (d *Discoverer) nextDue(now, nextScan time.Time) time.Time {
	due := now.Add(time.Hour)
	if d.allocDir != "" {
		due = nextScan
	} else {
		due = now.Add(100 * time.Millisecond) // until the agent tells where
	}
	for _, a := range d.allocs {
		if a.group != nil || len(a.onDisk) == 0 || a.pathOnly {
			continue
		}
		due = minTime(due, a.firstSeen.Add(d.o.UnknownAllocWait))
		if !a.lookingUp {
			due = minTime(due, a.nextLookup)
		}
	}
	return due
}

// take returns the groups to send: the full set once the alloc dir was
// listed (or could not be, and the API's full set came), then the groups
// that changed.
func (d *Discoverer) take() ([]discovery.Group, bool) {
	if !d.sentFull {
		if !d.listed && !(d.apiFull && d.allocDir != "") {
			return nil, false
		}
		d.sentFull = true
		clear(d.pending)
		out := []discovery.Group{}
		ids := make([]string, 0, len(d.allocs))
		for id := range d.allocs {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			if g := d.groupOf(d.allocs[id]); !g.Gone && len(g.Targets) > 0 {
				out = append(out, g)
			}
		}
		return out, true
	}
	if len(d.pending) == 0 {
		return nil, false
	}
	ids := make([]string, 0, len(d.pending))
	for id := range d.pending {
		ids = append(ids, id)
	}
	clear(d.pending)
	slices.Sort(ids)
	out := make([]discovery.Group, 0, len(ids))
	for _, id := range ids {
		a := d.allocs[id]
		if a == nil {
			out = append(out, discovery.Group{Key: id, Gone: true})
			continue
		}
		out = append(out, d.groupOf(a))
		if a.group != nil && a.group.Gone {
			delete(d.allocs, id)
		}
	}
	return out, true
}

// groupOf builds the discovery group of an allocation.
func (d *Discoverer) groupOf(a *nodeAlloc) discovery.Group {
	if a.group != nil {
		g := discovery.Group{Key: a.id, Terminal: a.group.Terminal, Gone: a.group.Gone}
		if g.Gone {
			// Streams found on disk before the API described the
			// allocation and never given metadata: what their path says.
			for key, s := range a.onDisk {
				g.Targets = append(g.Targets, streamTarget(a.id, s.task, s.stream, LogsDir(d.allocDir, a.id), d.pathMetaOf(a, key, s)))
			}
			return g
		}
		g.Targets = make([]discovery.Target, 0, len(a.group.Targets))
		for i := range a.group.Targets {
			g.Targets = append(g.Targets, TargetOf(&a.group.Targets[i]))
		}
		return g
	}
	g := discovery.Group{Key: a.id}
	keys := make([]string, 0, len(a.onDisk))
	for key := range a.onDisk {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		s := a.onDisk[key]
		var meta *event.Meta
		if a.pathOnly {
			meta = d.pathMetaOf(a, key, s)
		}
		g.Targets = append(g.Targets, streamTarget(a.id, s.task, s.stream, LogsDir(d.allocDir, a.id), meta))
	}
	return g
}

// pathMetaOf is the path-only metadata of a stream, built once.
func (d *Discoverer) pathMetaOf(a *nodeAlloc, key string, s streamRef) *event.Meta {
	if m := a.pathMeta[key]; m != nil {
		return m
	}
	if a.pathMeta == nil {
		a.pathMeta = map[string]*event.Meta{}
	}
	node, _ := d.w.Node()
	m := PathMeta(d.o.SourceID, node, a.id, s.task, s.stream)
	a.pathMeta[key] = m
	if d.o.PathMeta != nil {
		d.o.PathMeta.Inc()
	}
	return m
}

// syncWatches makes fsnotify watch the alloc dir, and for every allocation
// the API has not described, its log directory or the deepest directory on
// the way to it (so that its first files are seen at once). present is
// nil when the alloc dir could not be listed.
func (d *Discoverer) syncWatches(present map[string]bool) {
	if d.watcher == nil {
		return
	}
	dirs := []string{d.allocDir}
	for id := range present {
		if a := d.allocs[id]; a != nil && a.group != nil {
			continue // the follower watches its targets' directories
		}
		dir := filepath.Join(d.allocDir, id)
		logs := LogsDir(d.allocDir, id)
		switch {
		case isDir(logs):
			dirs = append(dirs, logs)
		case isDir(filepath.Dir(logs)):
			dirs = append(dirs, filepath.Dir(logs))
		default:
			dirs = append(dirs, dir)
		}
	}
	d.watcher.Sync(dirs)
}

// forgetFailures forgets the errors logged for paths below dir.
func (d *Discoverer) forgetFailures(dir string) {
	for p := range d.failing {
		if strings.HasPrefix(p, dir+string(filepath.Separator)) {
			delete(d.failing, p)
		}
	}
}

// lag is how long ago the Nomad API last answered the watch.
func (d *Discoverer) lag(now time.Time) float64 {
	var m dto.Metric
	if err := d.w.m.LastSync.Write(&m); err != nil {
		return 0
	}
	last := m.GetGauge().GetValue()
	if last == 0 {
		return 0
	}
	return max(0, float64(now.UnixNano())/1e9-last)
}

// validAllocDir reports whether a name in the alloc dir can be an
// allocation's directory.
func validAllocDir(name string) bool {
	return name != "" && name[0] != '.' && !strings.ContainsAny(name, `/\`)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
