package nomadlogs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/fswatch"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/tail"
)

// Internal limits, documented in docs/components/source-nomad_logs.md.
const (
	// readBufferSize is the size of the one read buffer of a source, and so
	// the most bytes one batch frames (plus a held line).
	readBufferSize = 128 << 10
	// perStreamBudget is the most bytes read from one stream before the
	// other streams get their turn.
	perStreamBudget = 512 << 10
	// minEventScanGap rate-limits the full scans that fsnotify events on
	// the alloc dir ask for.
	minEventScanGap = 50 * time.Millisecond
	// wakeGap is the shortest time between two rounds that fsnotify write
	// events start: on a node with a thousand streams each writing now and
	// then, every write would otherwise cost a round over all streams.
	// Writes that come within it are read together, at most wakeGap later.
	// New files are looked at without waiting (fswatch.Coalesce).
	wakeGap = 20 * time.Millisecond
	// lookupRetry is the pause between two lookups of an allocation the
	// API did not know.
	lookupRetry = 2 * time.Second
)

// Source is the nomad_logs source. Build it with New; see component.Source
// for the Run/Close contract and the package documentation for how it
// works.
type Source struct {
	cfg      *Config
	cctx     component.Context
	log      *slog.Logger
	m        *metrics.Component
	sm       *sourceMetrics
	dm       *nomad.Metrics
	w        *nomad.Watcher
	pathSel  *nomad.Selector
	store    checkpoint.File
	inflight *tail.Inflight
	flusher  *checkpoint.Flusher
	budget   *tail.Budget
	losses   *tail.Losses
	buf      []byte

	running   atomic.Bool
	closeOnce sync.Once

	// Run-loop state, touched only by the goroutine in Run (and by Close
	// after Run returned).
	loaded   bool
	fresh    bool // no checkpoint existed: read_from applies to the first scan
	scanned  bool // the first full scan is done
	allocDir string
	allocs   map[string]*alloc
	unknown  map[string]*alloc // allocations without metadata yet
	order    []*stream
	watcher  *fswatch.Watcher
	watches  map[string][]string // allocation ID -> directories watched for it
	failing  map[string]string   // path -> error last logged for it
	cursor   int                 // where the next round starts in order
	waiting  []*stream           // streams whose newest file waits for room (budget.go)
	updates  chan update
	lookups  chan lookupResult
	queue    chan *event.Batch // read batches waiting for the emitter
	room     chan struct{}     // the emitter took a batch from queue
	bg       sync.WaitGroup    // discovery, lookups, emitter

	// mu guards streams, positions and the positions' files against the
	// Flusher's snapshots.
	mu        sync.Mutex
	streams   map[streamID]*stream
	positions map[streamID]*position
	// lastAllocDir is the alloc dir saved with the checkpoint.
	lastAllocDir string
}

// New builds a nomad_logs source. The configuration must be valid. It
// does not contact Nomad.
func New(ctx component.Context, cfg *Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if ctx.Logger == nil {
		ctx.Logger = slog.New(slog.DiscardHandler)
	}
	if ctx.Metrics == nil {
		ctx.Metrics = metrics.New().Component(string(component.KindSource), nomad.SourceType, ctx.ID)
	}
	if ctx.DataDir == "" {
		return nil, errors.New("nomad_logs source: the data directory is not set")
	}
	sm, err := newSourceMetrics(ctx.Metrics)
	if err != nil {
		return nil, fmt.Errorf("nomad_logs source: registering metrics: %w", err)
	}
	dm, err := nomad.NewMetrics(ctx.Metrics.Registerer(), string(component.KindSource), nomad.SourceType, ctx.ID)
	if err != nil {
		return nil, fmt.Errorf("nomad_logs source: registering discovery metrics: %w", err)
	}
	w, err := nomad.New(nomad.Options{Config: cfg.Config, SourceID: ctx.ID, Logger: ctx.Logger, Metrics: dm, Health: ctx.Health})
	if err != nil {
		return nil, fmt.Errorf("nomad_logs source: %w", err)
	}
	// Streams the API cannot describe are selected by task name only.
	pathSel, err := nomad.NewSelector(nomad.Selection{Tasks: cfg.Include.Tasks}, nomad.Selection{Tasks: cfg.Exclude.Tasks})
	if err != nil {
		return nil, fmt.Errorf("nomad_logs source: %w", err)
	}
	s := &Source{
		cfg: cfg, cctx: ctx, log: ctx.Logger, m: ctx.Metrics, sm: sm, dm: dm, w: w, pathSel: pathSel,
		store:    checkpoint.File{Path: checkpoint.PathFor(ctx.DataDir, nomad.SourceType, ctx.ID), Version: stateVersion},
		inflight: tail.NewInflight(ctx.Metrics.Unacknowledged),
		buf:      make([]byte, readBufferSize),
		allocDir: cfg.AllocDir,

		lastAllocDir: cfg.AllocDir,
		allocs:       map[string]*alloc{},
		unknown:      map[string]*alloc{},
		watches:      map[string][]string{},
		failing:      map[string]string{},
		updates:      make(chan update),
		lookups:      make(chan lookupResult),
		queue:        make(chan *event.Batch, emitQueue),
		room:         make(chan struct{}, 1),
		streams:      map[streamID]*stream{},
		positions:    map[streamID]*position{},
	}
	s.flusher = checkpoint.NewFlusher(cfg.CheckpointInterval, s.save, s.log, s.m.Errors("checkpoint"))
	if s.budget, err = newBudget(cfg, s.m, s.log); err != nil {
		return nil, fmt.Errorf("nomad_logs source: %w", err)
	}
	if s.losses, err = tail.NewLosses(s.m); err != nil {
		return nil, fmt.Errorf("nomad_logs source: %w", err)
	}
	return s, nil
}

// CheckpointPath is where the source keeps its read positions.
func (s *Source) CheckpointPath() string { return s.store.Path }

// Run discovers and follows the node's task logs until ctx ends. It
// returns an error only when the checkpoint exists but cannot be read (not
// when it is corrupt: then it starts without one); the agent retries
// later. Nomad API failures never end it: files are found on disk and
// shipped with the metadata their path gives after unknown_alloc_wait.
func (s *Source) Run(ctx context.Context, out component.Emitter) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("nomad_logs source: Run called while already running")
	}
	defer s.running.Store(false)
	if !s.loaded {
		found, err := s.load()
		if err != nil {
			return err
		}
		s.fresh, s.loaded = !found, true
	}
	s.rewindFailed()

	if s.cfg.UseFsnotify {
		w, err := fswatch.New(s.log)
		if err != nil {
			s.m.Errors("watch").Inc()
			s.log.Warn("cannot use fsnotify; new allocations, files and data are found by scans and polls only", "error", err)
		} else {
			s.watcher = w
			s.watches = map[string][]string{}
		}
	}
	stopFlusher := s.flusher.Start()
	rctx, cancel := context.WithCancel(ctx)
	s.bg.Go(func() { s.discover(rctx) })
	s.bg.Go(func() { s.emitLoop(rctx, out) })
	defer func() {
		cancel()
		s.bg.Wait()
		s.failQueued()
		stopFlusher()
		if s.watcher != nil {
			s.watcher.Close()
			s.watcher = nil
		}
	}()
	s.loop(rctx)
	return nil
}

// loop is the run loop: it applies discovery updates, scans the alloc
// dir, and serves the streams that are due, until ctx ends.
func (s *Source) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var wake <-chan struct{}
	if s.watcher != nil {
		wake = s.watcher.Wake()
	}
	var nextScan, lastScan, lastRound time.Time
	fullPending := false
	dirty := map[string]struct{}{}
	for {
		if ctx.Err() != nil {
			return
		}
		now := time.Now().Round(0)
		s.drainInputs(ctx, now)
		if s.watcher != nil {
			fullPending = s.takeHints(now, dirty) || fullPending
		}
		s.resolveAllocDir()
		if s.allocDir != "" {
			switch {
			case !now.Before(nextScan) || fullPending && now.Sub(lastScan) >= minEventScanGap:
				first := !s.scanned
				s.scanAll(now)
				if first && s.fresh {
					// Where the streams start is decided: save it before
					// anything is read, so that a crash before the first
					// periodic save does not make the next start a first
					// start again (read_from = "end" would skip what was
					// written in between, and purges would go unreported).
					// A failure is logged by the Flusher, which retries.
					s.flusher.Mark()
					_ = s.flusher.Flush()
				}
				lastScan, nextScan, fullPending = now, now.Add(s.cfg.ScanInterval), false
				clear(dirty)
			case len(dirty) > 0:
				for id := range dirty {
					s.scanAlloc(id, now)
				}
				clear(dirty)
				s.syncWatches()
			}
		}
		s.checkUnknown(ctx, now)
		busy, blocked, err := s.round(ctx, now)
		lastRound = now
		if err != nil {
			return // ctx ended
		}
		s.retryWaiting(time.Now().Round(0))
		if busy && !blocked {
			continue
		}
		due := nextScan
		if fullPending {
			due = minTime(due, lastScan.Add(minEventScanGap))
		}
		due = minTime(due, s.nextDue(now, blocked))
		d := time.Until(due)
		if d <= 0 {
			continue
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-s.room:
		case <-timer.C:
		case <-wake:
			if !s.watcher.Coalesce(ctx, lastRound, wakeGap) {
				return
			}
		case u := <-s.updates:
			s.applyUpdate(u, time.Now().Round(0))
		case r := <-s.lookups:
			s.applyLookup(r, time.Now().Round(0))
		}
	}
}

// drainInputs applies the discovery updates and lookup results that are
// ready, without waiting.
func (s *Source) drainInputs(ctx context.Context, now time.Time) {
	for {
		select {
		case u := <-s.updates:
			s.applyUpdate(u, now)
		case r := <-s.lookups:
			s.applyLookup(r, now)
		default:
			return
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// resolveAllocDir takes the alloc dir from the configuration or from the
// agent once discovery asked it; until then, the one the checkpoint names
// (the last run's), if any.
func (s *Source) resolveAllocDir() {
	if s.cfg.AllocDir != "" {
		return
	}
	n, _ := s.w.Node()
	if n.AllocDir == "" || n.AllocDir == s.allocDir {
		return
	}
	if s.allocDir == "" {
		s.log.Info("reading task logs below the agent's alloc dir", "alloc_dir", n.AllocDir)
	} else {
		s.log.Warn("the agent's alloc dir is not the one of the last run; reading task logs below the agent's", "alloc_dir", n.AllocDir, "last_alloc_dir", s.allocDir)
	}
	s.allocDir = n.AllocDir
	s.mu.Lock()
	s.lastAllocDir = n.AllocDir
	s.mu.Unlock()
	s.flusher.Mark()
}

// nextDue returns when a stream or an unknown allocation needs attention.
// While the emit queue is full (blocked), streams wait for room instead.
func (s *Source) nextDue(now time.Time, blocked bool) time.Time {
	due := now.Add(time.Hour)
	for _, st := range s.order {
		if st.closed || !st.ready || blocked {
			continue
		}
		if len(st.files) > 0 {
			due = minTime(due, st.poll.Next)
		} else if !st.endAt.IsZero() {
			due = minTime(due, st.endAt.Add(s.cfg.TerminalIdle))
		}
	}
	for _, a := range s.unknown {
		due = minTime(due, a.firstSeen.Add(s.cfg.UnknownAllocWait))
		if !a.lookingUp {
			due = minTime(due, a.nextLookup)
		}
	}
	return due
}

// Close waits until the emitted batches are acknowledged or ctx ends, saves
// the checkpoint and closes the files. Call it once, after Run returned.
func (s *Source) Close(ctx context.Context) error {
	if s.running.Load() {
		return errors.New("nomad_logs source: Close called while Run is running")
	}
	var errs []error
	s.closeOnce.Do(func() {
		var save func() error
		if s.loaded {
			save = s.flusher.Flush
		}
		errs = s.inflight.Settle(ctx, s.log, save)
		for _, st := range s.order {
			if !st.closed {
				s.reportUnreadDeleted(st)
				errs = append(errs, s.closeFiles(st)...)
				s.m.ForgetFile(st.label)
			}
		}
		s.order = nil
		s.updateGauges()
	})
	return errors.Join(errs...)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
