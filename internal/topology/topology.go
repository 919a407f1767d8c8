// Package topology runs a configuration: it builds the sources, transforms
// and sinks, wires them with bounded queues, starts them in order, applies
// reloads without disturbing unchanged components, and stops everything so
// that what was read is delivered or left unacknowledged, never lost.
package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/status"
)

// Options are the topology's fixed dependencies.
type Options struct {
	Metrics *metrics.Registry
	// Health holds the Reporter of every component; nil keeps a private
	// registry.
	Health *health.Registry
	Logger *slog.Logger
	Host   string
	// RestartDelay is the first pause before a failed source or sink runs
	// again; it doubles up to a minute. Default 1s.
	RestartDelay time.Duration
}

// Topology is a running pipeline.
type Topology struct {
	opts Options

	mu         sync.Mutex
	cfg        *config.Config
	sources    map[string]*sourceRunner
	sinks      map[string]*sinkRunner
	transforms map[string]*transformTarget
	routers    map[string]*router
	oldSinks   map[string]*sinkRunner // replaced or removed by the reload under way
	disks      map[string]*diskQueue  // disk buffers by sink id; they outlive sink instances
	retiring   sync.WaitGroup         // old sinks draining after a reload

	// running is true from the end of Start to the beginning of Stop. It
	// is read without mu: Stop holds mu for the whole drain, and readiness
	// must answer at once during it.
	running atomic.Bool
	// installed is what Running returns: the components of the last
	// committed reload (running.go).
	installed atomic.Pointer[[]status.Running]
	tapMu     sync.Mutex // serializes changes of the routers' taps
}

// New returns an empty topology.
func New(opts Options) *Topology {
	if opts.RestartDelay <= 0 {
		opts.RestartDelay = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	if opts.Health == nil {
		opts.Health = health.NewRegistry(nil)
	}
	return &Topology{
		opts:       opts,
		sources:    map[string]*sourceRunner{},
		sinks:      map[string]*sinkRunner{},
		transforms: map[string]*transformTarget{},
		routers:    map[string]*router{},
		disks:      map[string]*diskQueue{},
	}
}

// Ready reports whether the topology is running: started and not
// stopping. It does not wait for a reload or a stop in progress.
func (t *Topology) Ready() bool { return t.running.Load() }

// Start builds and starts every component of cfg.
func (t *Topology) Start(cfg *config.Config) error {
	if _, err := t.Reload(cfg); err != nil {
		return err
	}
	t.running.Store(true)
	return nil
}

// Changes lists what a reload did, by component id.
type Changes struct {
	Added, Changed, Removed, Kept []string
}

func (t *Topology) context(c *config.Component) component.Context {
	return component.Context{
		Kind:    c.Kind,
		Type:    c.Type,
		ID:      c.ID,
		DataDir: t.cfg.DataDir,
		Host:    t.opts.Host,
		Logger: t.opts.Logger.With(
			slog.String("component_kind", string(c.Kind)),
			slog.String("component_type", c.Type),
			slog.String("component_id", c.ID),
		),
		Metrics: t.opts.Metrics.Component(string(c.Kind), c.Type, c.ID),
	}
}

// router returns the router of the output name (a component id or
// "<id>.<output>"), making it when there is none. A router outlives
// reloads that keep its output, so that components holding it keep
// emitting to the current consumers.
func (t *Topology) router(name string) *router {
	r := t.routers[name]
	if r == nil {
		r = newRouter()
		t.routers[name] = r
	}
	return r
}

// Health returns the registry of the components' health.
func (t *Topology) Health() *health.Registry { return t.opts.Health }

// Reload moves the running topology to cfg. Components whose fingerprint is
// unchanged keep running untouched (and keep their positions); changed ones
// are replaced, removed ones stopped, new ones started. If any new component
// fails to build, nothing changes and the error says which.
func (t *Topology) Reload(cfg *config.Config) (Changes, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.cfg
	t.cfg = cfg
	changes, built, err := t.build(old, cfg)
	if err != nil {
		t.cfg = old
		closeBuilt(built, cfg.ShutdownTimeout)
		return Changes{}, err
	}

	for _, r := range built.health {
		t.opts.Health.Install(r)
	}
	if old != nil {
		for _, c := range old.Components {
			if nc := cfg.Component(c.ID); nc == nil || nc.Kind != c.Kind {
				t.opts.Health.Remove(string(c.Kind), c.ID)
			}
		}
	}
	// 1. Start the new sinks so that routes can point at them.
	for id, s := range built.sinks {
		t.sinks[id] = s
		s.start(t.opts)
	}
	goneDisks := t.installDisks(cfg, built)
	// 2. Install the transforms and routes of the new configuration.
	oldTransforms := map[string]*transformTarget{}
	for id, tr := range built.transforms {
		if prev, ok := t.transforms[id]; ok {
			oldTransforms[id] = prev
		}
		t.transforms[id] = tr
	}
	for id, tr := range t.transforms {
		if c := cfg.Component(id); c == nil || c.Kind != component.KindTransform {
			oldTransforms[id] = tr
		}
	}
	for _, name := range cfg.Producers() {
		t.router(name)
	}
	for _, c := range cfg.Components {
		if c.Kind == component.KindTransform {
			tr := t.transforms[c.ID]
			tr.out = t.routers[c.ID]
			tr.start()
		}
	}
	consumers := cfg.Consumers()
	for id, r := range t.routers {
		var ts []target
		for _, cid := range consumers[id] {
			if s, ok := t.sinks[cid]; ok && cfg.Component(cid).Kind == component.KindSink {
				ts = append(ts, t.target(cfg, cid, s))
			} else if tr, ok := t.transforms[cid]; ok {
				ts = append(ts, tr)
			}
		}
		r.set(ts)
	}
	// 3. Retire the sinks that were replaced or removed: they drain what
	// they hold in the background. A disk buffer that is no longer wanted
	// refuses batches now and is closed after its sink; what it holds stays
	// on disk.
	for _, d := range goneDisks {
		d.retire()
	}
	for id, s := range t.oldSinks {
		delete(t.oldSinks, id)
		d := goneDisks[id]
		t.retiring.Add(1)
		go func() {
			defer t.retiring.Done()
			s.stop(cfg.ShutdownTimeout)
			d.close()
		}()
	}
	// Transforms that were replaced flush what they hold into their output,
	// which now feeds the new consumers; removed ones have no consumer
	// left and release what they hold unacknowledged.
	for id, tr := range oldTransforms {
		c := cfg.Component(id)
		tr.stop(cfg.ShutdownTimeout, c != nil && c.Kind == component.KindTransform)
	}
	// 4. Stop the sources that were replaced or removed; their unacknowledged
	// batches are still delivered by the sinks, and Close waits for that.
	var wg sync.WaitGroup
	for id, src := range t.sources {
		_, replaced := built.sources[id]
		if c := cfg.Component(id); !replaced && c != nil && c.Kind == component.KindSource {
			continue
		}
		delete(t.sources, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			src.stop()
			src.close(cfg.ShutdownTimeout)
		}()
	}
	wg.Wait()
	// 5. Forget removed transforms and routers.
	for id := range t.transforms {
		if c := cfg.Component(id); c == nil || c.Kind != component.KindTransform {
			delete(t.transforms, id)
		}
	}
	produced := map[string]bool{}
	for _, name := range cfg.Producers() {
		produced[name] = true
	}
	for name := range t.routers {
		if !produced[name] {
			delete(t.routers, name)
		}
	}
	// 6. Start the new sources.
	for id, s := range built.sources {
		t.sources[id] = s
		s.start(t.routers[id], t.opts)
	}
	t.publishRunning()
	return changes, nil
}

type builtSet struct {
	sources    map[string]*sourceRunner
	sinks      map[string]*sinkRunner
	transforms map[string]*transformTarget
	disks      map[string]*diskQueue // disk buffers opened for new sink ids
	health     []*health.Reporter    // of the components built, installed when the reload is committed
}

func closeBuilt(b *builtSet, timeout time.Duration) {
	if b == nil {
		return
	}
	for _, s := range b.sources {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_ = s.src.Close(ctx)
		cancel()
	}
	for _, d := range b.disks {
		d.close()
	}
}

// build constructs the components of cfg that are new or changed.
func (t *Topology) build(old, cfg *config.Config) (Changes, *builtSet, error) {
	var ch Changes
	b := &builtSet{sources: map[string]*sourceRunner{}, sinks: map[string]*sinkRunner{}, transforms: map[string]*transformTarget{}, disks: map[string]*diskQueue{}}
	var errs []error
	for _, c := range cfg.Components {
		var prev *config.Component
		if old != nil {
			prev = old.Component(c.ID)
		}
		if prev != nil && prev.Kind == c.Kind && prev.Fingerprint() == c.Fingerprint() {
			ch.Kept = append(ch.Kept, c.ID)
			continue
		}
		if prev != nil && prev.Kind == c.Kind {
			ch.Changed = append(ch.Changed, c.ID)
		} else {
			ch.Added = append(ch.Added, c.ID)
		}
		cctx := t.context(c)
		cctx.Health = t.opts.Health.New(string(c.Kind), c.Type, c.ID)
		b.health = append(b.health, cctx.Health)
		if len(c.Outputs) > 0 {
			cctx.Outputs = make(map[string]component.Emitter, len(c.Outputs))
			for _, o := range c.Outputs {
				r := t.router(c.ID + "." + o)
				if c.Kind == component.KindTransform {
					cctx.Outputs[o] = countingOutput{r: r, m: cctx.Metrics}
				} else {
					cctx.Outputs[o] = r
				}
			}
		}
		switch c.Kind {
		case component.KindSource:
			src, err := c.Registration.BuildSource(cctx, c.Config)
			if err != nil {
				errs = append(errs, fmt.Errorf("building source %q: %w", c.ID, err))
				continue
			}
			b.sources[c.ID] = &sourceRunner{id: c.ID, src: src, ctx: cctx}
		case component.KindTransform:
			tr, err := c.Registration.BuildTransform(cctx, c.Config)
			if err != nil {
				errs = append(errs, fmt.Errorf("building transform %q: %w", c.ID, err))
				continue
			}
			b.transforms[c.ID] = &transformTarget{transformID: c.ID, t: tr, m: cctx.Metrics, log: cctx.Logger}
		case component.KindSink:
			s, err := c.Registration.BuildSink(cctx, c.Config)
			if err != nil {
				errs = append(errs, fmt.Errorf("building sink %q: %w", c.ID, err))
				continue
			}
			q, err := t.sinkQueue(c, cctx, b)
			if err != nil {
				errs = append(errs, fmt.Errorf("building sink %q: %w", c.ID, err))
				continue
			}
			b.sinks[c.ID] = &sinkRunner{id: c.ID, sink: s, ctx: cctx, q: q}
		}
	}
	if old != nil {
		for _, c := range old.Components {
			if nc := cfg.Component(c.ID); nc == nil || nc.Kind != c.Kind {
				ch.Removed = append(ch.Removed, c.ID)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Changes{}, b, err
	}
	// Sinks that are replaced or removed move aside so the new ones can take
	// their ids.
	t.oldSinks = map[string]*sinkRunner{}
	for _, id := range append(append([]string{}, ch.Changed...), ch.Removed...) {
		if s, ok := t.sinks[id]; ok {
			t.oldSinks[id] = s
			delete(t.sinks, id)
		}
	}
	return ch, b, nil
}

// Stop shuts the pipeline down: sources stop reading, sinks deliver what
// they hold (for up to the configured shutdown timeout, then in-flight
// batches are abandoned unacknowledged), and sources persist the positions
// that were acknowledged. It returns when all components have stopped.
func (t *Topology) Stop() {
	t.running.Store(false)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg == nil {
		return
	}
	timeout := t.cfg.ShutdownTimeout
	var wg sync.WaitGroup
	for _, s := range t.sources {
		wg.Add(1)
		go func() { defer wg.Done(); s.stop() }()
	}
	wg.Wait()
	// Transforms flush what they hold, each after the transforms that feed
	// it, before the sinks drain.
	for _, wave := range transformStopWaves(t.cfg, t.transforms) {
		for _, tr := range wave {
			wg.Add(1)
			go func() { defer wg.Done(); tr.stop(timeout, true) }()
		}
		wg.Wait()
	}
	// Sinks that feed other sinks through named outputs (dead letters)
	// stop first, so that what they emit while draining still finds its
	// consumers running.
	for _, wave := range sinkStopWaves(t.cfg, t.sinks) {
		for _, s := range wave {
			wg.Add(1)
			go func() { defer wg.Done(); s.stop(timeout) }()
		}
		wg.Wait()
	}
	t.retiring.Wait()
	// Disk buffers sync and acknowledge what they admitted before the
	// sources wait for their acknowledgements.
	t.closeDisks()
	for _, s := range t.sources {
		wg.Add(1)
		go func() { defer wg.Done(); s.close(timeout) }()
	}
	wg.Wait()
	t.sources = map[string]*sourceRunner{}
	t.sinks = map[string]*sinkRunner{}
}

// sinkStopWaves orders the running sinks for stopping: a sink comes in a
// later wave than every sink that feeds it through a named output. The
// configuration has no cycles, so every sink gets a wave.
func sinkStopWaves(cfg *config.Config, sinks map[string]*sinkRunner) [][]*sinkRunner {
	return stopWaves(cfg, sinks, component.KindSink)
}

// transformStopWaves orders the transforms for stopping: a transform comes
// in a later wave than every transform that feeds it, so that what an
// upstream transform flushes still finds its consumers taking events.
func transformStopWaves(cfg *config.Config, trs map[string]*transformTarget) [][]*transformTarget {
	return stopWaves(cfg, trs, component.KindTransform)
}

// stopWaves groups the components of one kind by their depth among the
// components of that kind: wave 0 is fed by none of them, wave n by some of
// wave n-1.
func stopWaves[T any](cfg *config.Config, items map[string]T, kind component.Kind) [][]T {
	depth := map[string]int{}
	var depthOf func(id string, seen int) int
	depthOf = func(id string, seen int) int {
		if d, ok := depth[id]; ok {
			return d
		}
		d := 0
		if c := cfg.Component(id); c != nil && seen < len(cfg.Components) {
			for _, in := range c.Inputs {
				owner := config.OutputOwner(in)
				if p := cfg.Component(owner); p != nil && p.Kind == kind {
					d = max(d, depthOf(owner, seen+1)+1)
				}
			}
		}
		depth[id] = d
		return d
	}
	var waves [][]T
	for id, it := range items {
		d := depthOf(id, 0)
		for len(waves) <= d {
			waves = append(waves, nil)
		}
		waves[d] = append(waves[d], it)
	}
	return waves
}
