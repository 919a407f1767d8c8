package file

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
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/tail"
	"github.com/prometheus/client_golang/prometheus"
)

// Internal limits, documented in docs/components/source-file.md.
const (
	// readBufferSize is the size of the one read buffer of a source, and so
	// the most bytes one batch frames (plus a held line).
	readBufferSize = 128 << 10
	// maxBatchEvents bounds the events of one batch.
	maxBatchEvents = 4096
	// perFileBudget is the most bytes read from one file before the other
	// files get their turn.
	perFileBudget = 512 << 10
	// minEventScanGap rate-limits the rescans that fsnotify events ask for.
	minEventScanGap = 50 * time.Millisecond
	// wakeGap is the shortest time between two rounds that fsnotify write
	// events start: with a thousand files each written now and then, every
	// write would otherwise cost a round over all files. Writes that come
	// within it are read together, at most wakeGap later. New files are
	// looked at without waiting (fswatch.Coalesce).
	wakeGap = 20 * time.Millisecond
)

func init() {
	component.Register(component.Registration{
		Kind:      component.KindSource,
		Type:      "file",
		NewConfig: func() component.Config { return NewConfig() },
		BuildSource: func(ctx component.Context, cfg component.Config) (component.Source, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("file source: unexpected config type %T", cfg)
			}
			return New(ctx, c)
		},
	})
}

// Source is the file source. Build it with New; see component.Source for
// the Run/Close contract.
type Source struct {
	cfg      *Config
	cctx     component.Context
	log      *slog.Logger
	m        *metrics.Component
	match    *matcher
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
	loaded  bool // the checkpoint was loaded
	scanned bool // the first scan is done: later files are new
	order   []*tracked
	byPath  map[string]*tracked
	failing map[string]string // path -> error last logged for it
	ignored map[tail.FileID]int64
	skipped map[string]struct{} // non-regular paths already logged
	watcher *watcher            // nil when fsnotify is off or unavailable
	// deferred: a scan left new files unopened for want of room under
	// max_open_files; lateInitial are those the first scan found.
	deferred    bool
	lateInitial map[tail.FileID]struct{}

	// mu guards files, known and tracked.path against the Flusher's
	// snapshots.
	mu    sync.Mutex
	files map[tail.FileID]*tracked
	known map[tail.FileID]*knownFile
}

// tracked is one followed file. Its Reader may be parked by the budget
// (descriptor closed at the file's end while idle); service reopens it
// when the file changes.
type tracked struct {
	r      *tail.Reader
	slot   *tail.Slot
	path   string
	behind prometheus.Gauge
	wake   bool // read it even if parked and unchanged (its reads were rewound)
	// writtenParked: fsnotify reported a write to it while it was parked.
	writtenParked bool

	poll       tail.Poll // idle files are polled with a backoff (see tail.Poll)
	goneAt     time.Time // when a scan first missed it; zero while present
	lastGrowth time.Time
	deleted    bool   // link count 0 at the last Stat
	readErr    string // read error last logged
	closed     bool
}

// New builds a file source. The configuration must be valid.
func New(ctx component.Context, cfg *Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if ctx.Logger == nil {
		ctx.Logger = slog.New(slog.DiscardHandler)
	}
	if ctx.Metrics == nil {
		ctx.Metrics = metrics.New().Component(string(component.KindSource), "file", ctx.ID)
	}
	if ctx.DataDir == "" {
		return nil, errors.New("file source: the data directory is not set")
	}
	s := &Source{
		cfg:         cfg,
		cctx:        ctx,
		log:         ctx.Logger,
		m:           ctx.Metrics,
		match:       newMatcher(cfg.Include, cfg.Exclude),
		store:       checkpoint.File{Path: checkpoint.PathFor(ctx.DataDir, "file", ctx.ID), Version: stateVersion},
		inflight:    tail.NewInflight(ctx.Metrics.Unacknowledged),
		buf:         make([]byte, readBufferSize),
		byPath:      map[string]*tracked{},
		failing:     map[string]string{},
		ignored:     map[tail.FileID]int64{},
		skipped:     map[string]struct{}{},
		lateInitial: map[tail.FileID]struct{}{},
		files:       map[tail.FileID]*tracked{},
		known:       map[tail.FileID]*knownFile{},
	}
	s.flusher = checkpoint.NewFlusher(cfg.CheckpointInterval, s.save, s.log, s.m.Errors("checkpoint"))
	maxOpen := cfg.MaxOpenFiles
	if maxOpen == 0 {
		maxOpen = tail.DefaultMaxOpenFiles()
	}
	budget, err := tail.NewBudget(maxOpen, s.m, s.log)
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	s.budget = budget
	if s.losses, err = tail.NewLosses(s.m); err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	return s, nil
}

// CheckpointPath is where the source keeps its read positions.
func (s *Source) CheckpointPath() string { return s.store.Path }

// Run follows the files until ctx ends. It returns an error only when the
// checkpoint exists but cannot be read (not when it is corrupt: then it
// starts without one); the agent retries later.
func (s *Source) Run(ctx context.Context, out component.Emitter) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("file source: Run called while already running")
	}
	defer s.running.Store(false)
	if !s.loaded {
		if err := s.load(); err != nil {
			return err
		}
		s.loaded = true
	}
	s.rewindFailed()

	var w *watcher
	if s.cfg.UseFsnotify {
		var err error
		if w, err = startWatcher(s.log); err != nil {
			s.m.Errors("watch").Inc()
			s.log.Warn("cannot use fsnotify; new files and data are found by scans and polls only", "error", err)
			w = nil
		}
	}
	stopFlusher := s.flusher.Start()
	s.watcher = w
	defer func() {
		stopFlusher()
		if w != nil {
			w.Close()
			s.watcher = nil
		}
	}()
	return s.loop(ctx, out)
}

func (s *Source) loop(ctx context.Context, out component.Emitter) error {
	w := s.watcher
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var wake <-chan struct{}
	if w != nil {
		wake = w.Wake()
	}
	var nextScan, lastScan, lastRound time.Time
	pendingRescan := false
	for {
		if ctx.Err() != nil {
			return nil
		}
		now := time.Now().Round(0)
		if w != nil {
			c := w.Take()
			for p := range c.Written {
				if t := s.byPath[p]; t != nil {
					t.poll.Next = now
					t.writtenParked = t.writtenParked || t.slot.Parked()
				}
			}
			pendingRescan = pendingRescan || c.Rescan()
		}
		if !now.Before(nextScan) || pendingRescan && now.Sub(lastScan) >= minEventScanGap {
			first := !s.scanned
			if s.scan(now) || first {
				s.saveStartPositions()
			}
			lastScan, nextScan, pendingRescan = now, now.Add(s.cfg.ScanInterval), false
		}
		busy, err := s.round(ctx, out, now)
		lastRound = now
		if err != nil {
			return nil // ctx ended while emitting
		}
		if s.deferred && s.budget.Spare() {
			// Files read to their end can be parked for the files a scan
			// left unopened.
			s.deferred, pendingRescan = false, true
		}
		if busy {
			continue
		}
		due := nextScan
		if pendingRescan {
			due = minTime(due, lastScan.Add(minEventScanGap))
		}
		for _, t := range s.order {
			due = minTime(due, t.poll.Next)
		}
		d := time.Until(due)
		if d <= 0 {
			continue
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-wake:
			if !w.Coalesce(ctx, lastRound, wakeGap) {
				return nil
			}
		}
	}
}

// saveStartPositions saves the checkpoint as soon as a scan has decided
// where new files start, before anything of them is read (and after the
// first scan in any case): a crash before the next periodic save must not
// make the next start decide again, since read_from = "end" would then
// skip what was written in between. A failure is logged by the Flusher,
// which retries.
func (s *Source) saveStartPositions() {
	s.flusher.Mark()
	_ = s.flusher.Flush()
}

// Close waits until the emitted batches are acknowledged or ctx ends, saves
// the checkpoint and closes the files. Call it once, after Run returned.
func (s *Source) Close(ctx context.Context) error {
	if s.running.Load() {
		return errors.New("file source: Close called while Run is running")
	}
	var errs []error
	s.closeOnce.Do(func() {
		var save func() error
		if s.loaded {
			save = s.flusher.Flush
		}
		errs = s.inflight.Settle(ctx, s.log, save)
		s.mu.Lock()
		for _, t := range s.order {
			if err := t.slot.Close(); err != nil {
				errs = append(errs, err)
			}
			s.m.ForgetFile(t.path)
		}
		s.order = nil
		s.files = map[tail.FileID]*tracked{}
		s.byPath = map[string]*tracked{}
		s.mu.Unlock()
	})
	return errors.Join(errs...)
}
