package kubernetes

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/fswatch"
	"github.com/drover-dev/drover/internal/health"
)

// Options configure a Discoverer.
type Options struct {
	// Config holds the discovery settings; New validates it.
	Config Config
	// SourceID is the Source of every event.Meta built.
	SourceID string
	// Client talks to the API; nil builds one with NewClient from Config
	// (kubeconfig, or the in-cluster service account).
	Client Client
	// Logger receives the discoverer's logs; nil discards them.
	Logger *slog.Logger
	// Metrics are the discoverer's instruments; nil uses unregistered ones.
	Metrics *Metrics
	// Health receives the "api" condition: failing while list or watch
	// requests fail. Nil reports nowhere.
	Health *health.Reporter
	// InitialSyncWait bounds how long the first full set waits for the
	// informers' first list: a pod directory found on disk meanwhile is
	// sent without metadata (the follower holds its files) and gets it
	// when the list comes. Default 2s.
	InitialSyncWait time.Duration
}

// Resources named in metrics and logs.
const (
	resourcePods       = "pods"
	resourceNamespaces = "namespaces"
)

// Reasons of path_metadata_total.
const (
	ReasonUnknownPod     = "unknown_pod"
	ReasonAPIUnavailable = "api_unavailable"
)

// Discoverer reports the containers of one Kubernetes node's pods as
// discovery groups: one group per pod (keyed by the UID of its log
// directory), one Kubernetes target per container, keyed
// "<pod_uid>/<container>". See the package documentation.
type Discoverer struct {
	cfg     Config
	client  Client
	log     *slog.Logger
	m       *Metrics
	sel     *Selector
	mb      metaBuilder
	comp    discovery.Compressed
	syncMax time.Duration
	streak  *health.Streak
	running atomic.Bool

	mu      sync.Mutex
	podUpd  map[string]podUpdate         // by directory UID
	nsUpd   map[string]*corev1.Namespace // nil: deleted
	listed  map[string]bool              // resources listed once in this Run
	apiDown atomic.Bool
	wake    chan struct{}

	exclMu   sync.Mutex
	excluded map[string][]Excluded // by pod key; only pods with some
}

// Excluded is a container of a pod on the node whose logs are not shipped,
// and the rule or annotation that leaves it out.
type Excluded struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	UID       string `json:"pod_uid"`
	Container string `json:"container"`
	// Rule names what excludes it: `exclude.namespaces "kube-system"`,
	// `include.containers: no pattern matches ["app"]`,
	// `annotation drover.io/exclude = "true"`.
	Rule string `json:"rule"`
}

// Excluded lists the containers of the node's pods that the selection
// (include, exclude, the drover.io/exclude annotations) leaves out, as the
// API or the disk last showed them, sorted by namespace, pod and
// container. Safe to call at any time.
func (d *Discoverer) Excluded() []Excluded {
	d.exclMu.Lock()
	var out []Excluded
	for _, es := range d.excluded {
		out = append(out, es...)
	}
	d.exclMu.Unlock()
	slices.SortFunc(out, func(a, b Excluded) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Pod, b.Pod), cmp.Compare(a.UID, b.UID),
			cmp.Compare(a.Container, b.Container))
	})
	return out
}

// setExcluded records the excluded containers of the pod key (none: it is
// forgotten).
func (d *Discoverer) setExcluded(key string, es []Excluded) {
	d.exclMu.Lock()
	defer d.exclMu.Unlock()
	if len(es) == 0 {
		delete(d.excluded, key)
		return
	}
	if d.excluded == nil {
		d.excluded = make(map[string][]Excluded)
	}
	d.excluded[key] = es
}

type podUpdate struct {
	pod     *corev1.Pod
	deleted bool
}

// New returns a discoverer. It validates the configuration and builds the
// client, but does not contact the API.
func New(opts Options) (*Discoverer, error) {
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kubernetes discovery configuration: %w", err)
	}
	sel, err := NewSelector(cfg.Include, cfg.Exclude)
	if err != nil {
		return nil, err
	}
	client := opts.Client
	if client == nil {
		rc, err := RESTConfig(cfg.Kubeconfig)
		if err != nil {
			return nil, err
		}
		if client, err = NewClient(rc); err != nil {
			return nil, err
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	routeKlog(log)
	m := opts.Metrics
	if m == nil {
		m = testMetrics()
	}
	comp := discovery.ReadCompressed
	if cfg.Compressed == CompressedSkip {
		comp = discovery.SkipCompressed
	}
	syncMax := opts.InitialSyncWait
	if syncMax <= 0 {
		syncMax = 2 * time.Second
	}
	return &Discoverer{
		cfg: cfg, client: client, log: log, m: m, sel: sel, comp: comp, syncMax: syncMax,
		mb: metaBuilder{sourceID: opts.SourceID, node: cfg.NodeName, annotations: cfg.Annotations},
		streak: health.NewStreak(health.StreakConfig{Logger: log, Health: opts.Health,
			Condition: health.ConditionAPI, Remind: health.DefaultRemind}),
	}, nil
}

// RESTConfig is the client configuration: from a kubeconfig file when one
// is named, else the pod's service account (in-cluster).
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("reading kubeconfig %s: %w", kubeconfig, err)
		}
		return c, nil
	}
	c, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes in-cluster configuration (set kubeconfig when drover runs outside a pod): %w", err)
	}
	return c, nil
}

// Run watches the node's pods and the namespaces, lists the pod log
// directory, and sends groups on up until ctx ends; then it returns nil.
// It does not close up. Only one Run may be active.
func (d *Discoverer) Run(ctx context.Context, up chan<- []discovery.Group) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("kubernetes discovery: Run is already active")
	}
	defer d.running.Store(false)
	d.mu.Lock()
	d.podUpd, d.nsUpd, d.listed = make(map[string]podUpdate), make(map[string]*corev1.Namespace), make(map[string]bool)
	d.wake = make(chan struct{}, 1)
	d.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	podInf, nsInf, podsSynced, nsSynced := d.informers()
	wg.Go(func() { podInf.RunWithContext(ctx) })
	wg.Go(func() { nsInf.RunWithContext(ctx) })
	p := newPending()
	wg.Go(func() { p.SendLoop(ctx, up, func(n int) { d.m.GroupUpdates.Add(float64(n)) }) })
	d.log.Info("watching Kubernetes pods", "node_name", d.cfg.NodeName, "pod_logs_dir", d.cfg.PodLogsDir)

	// fsnotify on the pod log directory (and on the directories of pods the
	// API has not shown): a new pod directory is scanned at once instead of
	// at the next scan_interval. Scans find everything anyway.
	var fsWake <-chan struct{}
	fw, err := fswatch.New(d.log)
	if err != nil {
		d.log.Warn("cannot watch the pod log directory with fsnotify; relying on scans", "error", err)
	} else {
		defer fw.Close()
		fw.Sync([]string{d.cfg.PodLogsDir})
		fsWake = fw.Wake()
	}

	st := newRunState()
	start := time.Now()
	scan := time.NewTicker(d.cfg.ScanInterval)
	defer scan.Stop()
	timer := time.NewTimer(d.syncMax)
	defer timer.Stop()
	doScan := true
	for ctx.Err() == nil {
		synced := podsSynced.HasSynced() && nsSynced.HasSynced()
		now := time.Now()
		scanned := doScan
		out, full := d.step(st, now, doScan, synced, synced || now.Sub(start) >= d.syncMax)
		doScan = false
		if fw != nil && scanned {
			// Before the groups go out: a directory created in a pod
			// directory after its group was seen is noticed.
			fw.Sync(st.watchDirs(d.cfg.PodLogsDir))
		}
		if len(out) > 0 || full {
			p.Put(out, full)
		}
		next := st.nextDeadline()
		if !st.sentFull {
			if dl := start.Add(d.syncMax); next.IsZero() || dl.Before(next) {
				next = dl
			}
			if !synced {
				// Poll for the first sync (HasSynced has no notification).
				if dl := now.Add(20 * time.Millisecond); dl.Before(next) {
					next = dl
				}
			}
		}
		var tc <-chan time.Time
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), 0))
			tc = timer.C
		}
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-scan.C:
			doScan = true
		case <-fsWake:
			if fw.Take().Rescan() {
				doScan = true
			}
		case <-tc:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if !st.synced && podsSynced.HasSynced() && nsSynced.HasSynced() {
			doScan = true // the first list came: look at the disk with it
		}
	}
	cancel()
	wg.Wait()
	return nil
}

// informers builds the informers of this node's pods and of the
// namespaces, and the registrations of the discoverer's handlers (synced
// once the handler got every object of the first list). Their list and
// watch requests go through observe (metrics, the "api" condition); their
// caches hold slimmed objects.
func (d *Discoverer) informers() (pods, namespaces cache.SharedIndexInformer, podsSynced, nsSynced cache.ResourceEventHandlerRegistration) {
	node := fields.OneTermEqualSelector("spec.nodeName", d.cfg.NodeName).String()
	podLW := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = node
			l, err := d.client.ListPods(ctx, o)
			d.observe(ctx, resourcePods, "list", err)
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = node
			w, err := d.client.WatchPods(ctx, o)
			d.observe(ctx, resourcePods, watchRequest(o), err)
			return w, err
		},
	}
	nsLW := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l, err := d.client.ListNamespaces(ctx, o)
			d.observe(ctx, resourceNamespaces, "list", err)
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := d.client.WatchNamespaces(ctx, o)
			d.observe(ctx, resourceNamespaces, watchRequest(o), err)
			return w, err
		},
	}
	pods = cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(podLW, d.client), &corev1.Pod{}, 0, cache.Indexers{})
	namespaces = cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(nsLW, d.client), &corev1.Namespace{}, 0, cache.Indexers{})
	for _, inf := range []cache.SharedIndexInformer{pods, namespaces} {
		_ = inf.SetTransform(slim(d.keepAnnotation))
	}
	_ = pods.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) { d.watchError(resourcePods, err) })
	_ = namespaces.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		d.watchError(resourceNamespaces, err)
	})
	podsSynced, _ = pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { d.podChanged(o, false) },
		UpdateFunc: func(_, o any) { d.podChanged(o, false) },
		DeleteFunc: func(o any) { d.podChanged(o, true) },
	})
	nsSynced, _ = namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { d.nsChanged(o, false) },
		UpdateFunc: func(_, o any) { d.nsChanged(o, false) },
		DeleteFunc: func(o any) { d.nsChanged(o, true) },
	})
	return pods, namespaces, podsSynced, nsSynced
}

// keepAnnotation reports whether discovery reads a pod annotation: the
// drover.io/ hints, the mirror pod's, and those the configuration copies
// into the metadata.
func (d *Discoverer) keepAnnotation(k string) bool {
	if strings.HasPrefix(k, "drover.io/") || k == MirrorPodAnnotation {
		return true
	}
	return anyMatch(d.cfg.Annotations, k)
}

// watchRequest names a watch request for metrics: "list" for a
// watch-list (sendInitialEvents: it streams the whole state, in place of a
// list), else "watch".
func watchRequest(o metav1.ListOptions) string {
	if o.SendInitialEvents != nil && *o.SendInitialEvents {
		return "list"
	}
	return "watch"
}

func (d *Discoverer) podChanged(o any, deleted bool) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	key := dirUID(p)
	if !validName(key) || !validName(p.Namespace) || !validName(p.Name) {
		return
	}
	d.mu.Lock()
	d.podUpd[key] = podUpdate{pod: p, deleted: deleted}
	d.mu.Unlock()
	d.signal()
}

func (d *Discoverer) nsChanged(o any, deleted bool) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	ns, ok := o.(*corev1.Namespace)
	if !ok {
		return
	}
	d.mu.Lock()
	if deleted {
		d.nsUpd[ns.Name] = nil
	} else {
		d.nsUpd[ns.Name] = ns
	}
	d.mu.Unlock()
	d.signal()
}

func (d *Discoverer) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// observe records the outcome of a list or watch request.
func (d *Discoverer) observe(ctx context.Context, resource, request string, err error) {
	if err != nil && request == "list" && (apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)) &&
		strings.Contains(err.Error(), "sendInitialEvents") {
		// An API server without watch-list refuses it; client-go lists
		// instead. Not a failure.
		d.log.Debug("the Kubernetes API server does not stream lists (watch-list); client-go lists", "resource", resource)
		return
	}
	d.m.Requests(resource, request).Inc()
	if err == nil {
		d.m.LastSync.SetToCurrentTime()
		d.apiDown.Store(false)
		d.streak.End("the Kubernetes API answers again")
		if request == "list" {
			d.mu.Lock()
			again := d.listed[resource]
			d.listed[resource] = true
			d.mu.Unlock()
			if again {
				d.log.Info("listed Kubernetes "+resource+" again (the watch could not resume)", "resource", resource)
			}
		}
		return
	}
	if ctx.Err() != nil {
		return
	}
	reason := errorReason(err)
	d.m.APIErrors(resource, reason).Inc()
	if reason == "expired" {
		return // a relist follows; the API answers
	}
	d.apiDown.Store(true)
	d.streak.Fail(fmt.Sprintf("%s of Kubernetes %s failed; client-go retries with backoff", request, resource), reason, err, 0,
		"resource", resource)
}

// watchError records a watch that ended with an error (client-go
// restarts it, or lists again after a 410).
func (d *Discoverer) watchError(resource string, err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	reason := errorReason(err)
	d.m.APIErrors(resource, reason).Inc()
	d.log.Debug("Kubernetes watch ended with an error; restarting it", "resource", resource, "reason", reason, "error", err)
}

// errorReason classifies an API error for metrics and the streak.
func errorReason(err error) string {
	switch {
	case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
		return "expired"
	case apierrors.IsForbidden(err):
		return "forbidden"
	case apierrors.IsUnauthorized(err):
		return "unauthorized"
	case apierrors.IsServiceUnavailable(err) || apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err) ||
		apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err):
		return "unavailable"
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "connection refused") {
		return "network"
	}
	if se, ok := err.(apierrors.APIStatus); ok && se.Status().Code >= 500 {
		return "unavailable"
	}
	return "other"
}

// runState is what one Run knows; only the Run goroutine touches it.
type runState struct {
	pods     map[string]*podState // by directory UID
	ns       map[string]map[string]string
	scanned  bool
	synced   bool
	sentFull bool
	// deadline is the earliest end of the wait of a pod unknown to the API.
	deadline time.Time
}

func newRunState() *runState {
	return &runState{pods: make(map[string]*podState), ns: make(map[string]map[string]string)}
}

// podState is what the discoverer knows of one pod.
type podState struct {
	key string
	// pod is the last state the API showed (kept after deletion); nil for
	// a pod only found on disk.
	pod     *corev1.Pod
	deleted bool
	// dir is the pod's directory as the disk showed it; onDisk whether it
	// exists at the last scan; containers its container directories
	// (read only for pods the API did not show; never removed).
	dir        dirRef
	onDisk     bool
	containers []string
	// firstSeen is when a pod unknown to the API was found on disk;
	// pathOnly is set when the wait ran out and pathReason is why.
	firstSeen   time.Time
	pathOnly    bool
	pathReason  string
	pathCounted map[string]bool // targets counted in path_metadata_total
	dirty       bool
	// last is the last group put for the follower; sent whether it had
	// targets; goneSent that a Gone group was put.
	last     discovery.Group
	sent     bool
	everSent bool
	goneSent bool
}

// watchDirs are the directories fsnotify watches: the pod log directory
// and the directories of pods the API has not shown (their containers'
// directories come one after the other).
func (st *runState) watchDirs(root string) []string {
	dirs := []string{root}
	for _, ps := range st.pods {
		if ps.pod == nil && ps.onDisk {
			dirs = append(dirs, ps.dir.Dir(root))
		}
	}
	return dirs
}

// nextDeadline is the earliest end of an unknown pod's wait.
func (st *runState) nextDeadline() time.Time {
	return st.deadline
}

// step applies what the informers and the disk tell, and returns the
// groups that changed, and whether they complete the first full set.
// canFull says that the first full set may be sent (the informers listed,
// or the wait for them ran out); it is sent once the disk was listed too.
func (d *Discoverer) step(st *runState, now time.Time, scan, synced, canFull bool) (out []discovery.Group, full bool) {
	d.mu.Lock()
	pods, nss := d.podUpd, d.nsUpd
	d.podUpd, d.nsUpd = make(map[string]podUpdate), make(map[string]*corev1.Namespace)
	d.mu.Unlock()
	if synced && !st.synced {
		st.synced = true
		for _, ps := range st.pods {
			ps.dirty = true
		}
	}

	for name, ns := range nss {
		if ns == nil {
			delete(st.ns, name)
		} else {
			st.ns[name] = ns.Labels
		}
		for _, ps := range st.pods {
			if ps.namespace() == name {
				ps.dirty = true
			}
		}
	}
	for key, u := range pods {
		ps := st.pods[key]
		if ps == nil {
			ps = &podState{key: key}
			st.pods[key] = ps
		}
		ps.pod, ps.deleted, ps.dirty = u.pod, u.deleted, true
	}
	if scan {
		d.scan(st, now)
	}

	st.deadline = time.Time{}
	for key, ps := range st.pods {
		if ps.pod == nil && ps.onDisk && !ps.pathOnly {
			due := ps.firstSeen.Add(d.cfg.UnknownPodWait)
			if !now.Before(due) {
				ps.pathOnly, ps.dirty = true, true
				ps.pathReason = ReasonUnknownPod
				if !synced || d.apiDown.Load() {
					ps.pathReason = ReasonAPIUnavailable
				}
			} else if st.deadline.IsZero() || due.Before(st.deadline) {
				st.deadline = due
			}
		}
		if !ps.dirty {
			continue
		}
		ps.dirty = false
		g := d.group(st, ps)
		changed := !sameGroup(&ps.last, &g)
		switch {
		case ps.goneSent:
		case g.Gone:
			// Also after the pod was unselected: the follower releases the
			// positions it kept.
			if ps.everSent {
				if ps.pod == nil {
					d.countPathMeta(ps, &g)
				}
				out = append(out, g)
				ps.goneSent = true
			}
			ps.sent = false
		case len(g.Targets) > 0 && (changed || !ps.sent):
			if ps.pod == nil && ps.pathOnly {
				d.countPathMeta(ps, &g)
			}
			out = append(out, g)
			ps.sent, ps.everSent = true, true
		case len(g.Targets) == 0 && ps.sent:
			out = append(out, g) // no longer selected
			ps.sent = false
		}
		ps.last = g
		// A pod that is gone is forgotten once its directory is; one
		// deleted from the API is kept while its directory exists, so that
		// the scan does not take it for an unknown pod.
		if g.Gone && !ps.onDisk || ps.pod == nil && !ps.onDisk {
			delete(st.pods, key)
		}
	}
	d.gauges(st)
	full = !st.sentFull && st.scanned && canFull
	if full {
		st.sentFull = true
	}
	return out, full
}

// countPathMeta counts (once per container) and logs the targets of a
// pod unknown to the API that are sent with path metadata.
func (d *Discoverer) countPathMeta(ps *podState, g *discovery.Group) {
	n := 0
	for i := range g.Targets {
		if t := &g.Targets[i]; t.Meta != nil && !ps.pathCounted[t.Key] {
			if ps.pathCounted == nil {
				ps.pathCounted = make(map[string]bool)
			}
			ps.pathCounted[t.Key] = true
			n++
		}
	}
	if n == 0 {
		return
	}
	d.m.PathMetadata(ps.pathReason).Add(float64(n))
	d.log.Warn("shipping the logs of a pod the Kubernetes API did not show with the metadata their path tells",
		"namespace", ps.dir.namespace, "pod", ps.dir.pod, "pod_uid", ps.dir.uid, "reason", ps.pathReason,
		"containers", n)
}

func (ps *podState) namespace() string {
	if ps.pod != nil {
		return ps.pod.Namespace
	}
	return ps.dir.namespace
}

// scan lists the pod log directory: pods found there that the API did not
// show become pods of their own; a directory that disappears marks its pod.
func (d *Discoverer) scan(st *runState, now time.Time) {
	dirs, err := listPodDirs(d.cfg.PodLogsDir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			d.m.ScanErrors.Inc()
			d.log.Warn("cannot list the pod log directory", "dir", d.cfg.PodLogsDir, "error", err)
			return
		}
		dirs = nil
	}
	st.scanned = true
	for key, ps := range st.pods {
		ref, on := dirs[key]
		if on != ps.onDisk {
			ps.onDisk, ps.dirty = on, true
		}
		if on {
			ps.dir = ref
		}
	}
	for key, ref := range dirs {
		ps := st.pods[key]
		if ps == nil {
			ps = &podState{key: key, dir: ref, onDisk: true, firstSeen: now, dirty: true}
			st.pods[key] = ps
		}
		if ps.pod == nil {
			// Containers only add up: a directory being removed loses its
			// container directories first, and the pod is gone only with
			// its own directory.
			cs, err := listContainerDirs(ref.Dir(d.cfg.PodLogsDir))
			for _, c := range cs {
				if err == nil && !slices.Contains(ps.containers, c) {
					ps.containers, ps.dirty = append(ps.containers, c), true
				}
			}
		}
	}
}

// group builds a pod's group.
func (d *Discoverer) group(st *runState, ps *podState) discovery.Group {
	g, excl := d.groupOf(st, ps)
	if g.Gone {
		excl = nil
	}
	d.setExcluded(ps.key, excl)
	return g
}

// groupOf builds a pod's group and lists its excluded containers.
func (d *Discoverer) groupOf(st *runState, ps *podState) (g discovery.Group, excl []Excluded) {
	g = discovery.Group{Key: ps.key}
	if p := ps.pod; p != nil {
		// A pod deleted from the API whose directory is still on disk
		// (a forced deletion: its containers may still write, restart,
		// rotate) is terminal: its files are followed, new ones too, until
		// they are quiet; it is gone once the kubelet removed the
		// directory.
		g.Terminal = terminal(p) || ps.deleted && ps.onDisk
		g.Gone = ps.deleted && !ps.onDisk
		nsLabels := st.ns[p.Namespace]
		var pf *podFields
		dir := filepath.Join(d.cfg.PodLogsDir, p.Namespace+"_"+p.Name+"_"+ps.key)
		for _, c := range containers(p) {
			rule := excludedBy(p.Annotations, c.name)
			if rule == "" {
				rule = d.sel.Why(Subject{
					Namespace: p.Namespace, NamespaceLabels: nsLabels, PodLabels: p.Labels, PodKnown: true, Container: c.name,
				})
			}
			if rule != "" {
				excl = append(excl, Excluded{Namespace: p.Namespace, Pod: p.Name, UID: ps.key, Container: c.name, Rule: rule})
				continue
			}
			if pf == nil {
				pf = d.mb.podFields(p, nsLabels)
			}
			m := d.mb.containerMeta(pf, c, p.Annotations)
			g.Targets = append(g.Targets, d.target(ps, dir, p.Namespace, p.Name, c.name, m))
		}
		return g, excl
	}
	if !ps.onDisk {
		g.Gone = true
		if ps.dir.uid == "" {
			return g, nil
		}
		// The directory of a pod the API never showed is gone before
		// unknown_pod_wait ran out: what the follower holds open of it is
		// read out with what the path tells, not dropped.
		if ps.pathReason == "" {
			ps.pathReason = ReasonUnknownPod
			if d.apiDown.Load() {
				ps.pathReason = ReasonAPIUnavailable
			}
		}
	}
	nsLabels := st.ns[ps.dir.namespace]
	dir := ps.dir.Dir(d.cfg.PodLogsDir)
	for _, c := range ps.containers {
		if rule := d.sel.Why(Subject{Namespace: ps.dir.namespace, NamespaceLabels: nsLabels, Container: c}); rule != "" {
			excl = append(excl, Excluded{Namespace: ps.dir.namespace, Pod: ps.dir.pod, UID: ps.key, Container: c, Rule: rule})
			continue
		}
		var m *event.Meta
		if ps.pathOnly || g.Gone {
			m = d.mb.pathMeta(ps.dir, c, nsLabels)
		}
		g.Targets = append(g.Targets, d.target(ps, dir, ps.dir.namespace, ps.dir.pod, c, m))
	}
	return g, excl
}

// target builds a container's target, keeping the previous metadata value
// when it did not change.
func (d *Discoverer) target(ps *podState, podDir, namespace, pod, container string, m *event.Meta) discovery.Target {
	key := ps.key + "/" + container
	for i := range ps.last.Targets {
		prev := &ps.last.Targets[i]
		if prev.Key == key && prev.Meta != nil && m != nil && prev.Meta.Source == m.Source &&
			bytes.Equal(prev.Meta.JSONMembers(), m.JSONMembers()) {
			m = prev.Meta
		}
	}
	return discovery.Target{
		Key: key, Dir: filepath.Join(podDir, container), Name: container,
		Scheme: discovery.Kubernetes, Compressed: d.comp, Meta: m,
		Attrs: []slog.Attr{slog.String("namespace", namespace), slog.String("pod", pod), slog.String("container", container)},
	}
}

// sameGroup reports whether the follower would see no difference between
// two groups of one pod: flags, and targets by key, directory and
// metadata pointer.
func sameGroup(a, b *discovery.Group) bool {
	if a.Key != b.Key || a.Gone != b.Gone || a.Terminal != b.Terminal || len(a.Targets) != len(b.Targets) {
		return false
	}
	for i := range a.Targets {
		x, y := &a.Targets[i], &b.Targets[i]
		if x.Key != y.Key || x.Dir != y.Dir || x.Meta != y.Meta || x.Compressed != y.Compressed {
			return false
		}
	}
	return true
}

func (d *Discoverer) gauges(st *runState) {
	var sel, unsel, targets int
	for _, ps := range st.pods {
		if n := len(ps.last.Targets); n > 0 && !ps.goneSent {
			sel++
			targets += n
		} else {
			unsel++
		}
	}
	d.m.PodsSelected.Set(float64(sel))
	d.m.PodsUnselected.Set(float64(unsel))
	d.m.Targets.Set(float64(targets))
}
