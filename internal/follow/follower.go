package follow

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
	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/fswatch"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/tail"
)

// Internal limits, documented in the pages of the sources.
const (
	// readBufferSize is the size of the one read buffer of a follower, and
	// so the most bytes one batch frames (plus a held line).
	readBufferSize = 128 << 10
	// perTargetBudget is the most bytes read from one target before the
	// others get their turn.
	perTargetBudget = 512 << 10
	// minEventScanGap rate-limits the full scans that fsnotify asks for
	// (lost events).
	minEventScanGap = 50 * time.Millisecond
	// wakeGap is the shortest time between two rounds that fsnotify write
	// events start: with a thousand targets each written now and then,
	// every write would otherwise cost a round over all of them. Writes
	// that come within it are read together, at most wakeGap later. New
	// files are looked at without waiting (fswatch.Coalesce).
	wakeGap = 20 * time.Millisecond
	// rediscoverDelay is the pause before a discoverer whose Run failed
	// runs again.
	rediscoverDelay = time.Second
)

// watchedScanInterval is the period of the deep scan, which also lists
// the directories fsnotify watches (see scanAll); at least ScanInterval.
// A variable for the tests, which make it long to prove that what
// fsnotify reports (or the scan of what it cannot) is enough.
var watchedScanInterval = 10 * time.Second

// Read positions of targets without a saved position.
const (
	ReadFromBeginning = "beginning"
	ReadFromEnd       = "end"
)

// Options configure a Follower. Zero durations and sizes take the
// defaults of the tail package; Store is required.
type Options struct {
	// Logger and Metrics are the source's (the component's).
	Logger  *slog.Logger
	Metrics *metrics.Component
	// Store keeps the positions in the source's checkpoint format.
	Store Store
	// ReadFrom is where targets start that the first full set of the
	// discoverer names and that have no saved position: "beginning" or
	// "end". It applies at a first start (no checkpoint existed), or at
	// every start with ReadFromEveryStart.
	ReadFrom           string
	ReadFromEveryStart bool
	// IgnoreOlder, when positive, leaves alone the Logrotate targets
	// without a saved position whose file was last modified longer ago,
	// until they change (then what was added is read).
	IgnoreOlder time.Duration
	// MaxLineBytes is the longest message; longer lines are truncated.
	MaxLineBytes int
	// PartialLineTimeout is how long an unfinished last line is held,
	// counted from its first byte, before it is sent flagged partial.
	PartialLineTimeout time.Duration
	// CheckpointInterval is how often changed positions are saved;
	// CheckpointRetention how long the position of a target that no
	// group names is remembered.
	CheckpointInterval  time.Duration
	CheckpointRetention time.Duration
	// ScanInterval is the period of the scan of the targets' directories,
	// the safety net under fsnotify.
	ScanInterval time.Duration
	// UseFsnotify watches the targets' directories, so that new files and
	// new data are seen at once instead of at the next scan or poll.
	UseFsnotify bool
	// NewWatcher starts fsnotify (nil: fswatch.New).
	NewWatcher fswatch.Starter
	// EndIdle is how long the last file of a target that will not be
	// written any more (terminal or gone group, deleted file) must stay
	// unchanged at its end before the target is released.
	EndIdle time.Duration
	// MaxOpenFiles bounds the files held open (see tail.Budget); 0 is
	// tail.DefaultMaxOpenFiles().
	MaxOpenFiles int
	// Words name files and targets in the follower's logs.
	Words Words
	// KeyAttrs, if set, names a target by its key in logs about a saved
	// position whose target is not followed (the target's own Attrs are
	// not known then): "alloc_id", "task", "stream" of a Nomad stream.
	KeyAttrs func(key string) []any
	// OnStates, if set, is called with the number of targets in each state
	// whenever they may have changed (on the run loop's goroutine).
	OnStates func(States)
}

// Words are how a source names what it follows in its logs, so that each
// source's log lines read as its documentation says.
type Words struct {
	// File names one file: "task log file", "file".
	File string
	// Target names one target: "task stream", "file".
	Target string
	// PurgedAdvice ends the report of files deleted before they could be
	// read.
	PurgedAdvice string
}

// States counts the targets by state.
type States struct {
	// Reading: metadata known, following the files.
	Reading int
	// Waiting: files held open, waiting for the target's metadata.
	Waiting int
	// Finishing: no more writes expected; read to the end before release.
	Finishing int
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = tail.DefaultMaxLineBytes
	}
	if o.PartialLineTimeout <= 0 {
		o.PartialLineTimeout = tail.DefaultPartialLineTimeout
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Second
	}
	if o.CheckpointRetention <= 0 {
		o.CheckpointRetention = time.Hour
	}
	if o.ScanInterval <= 0 {
		o.ScanInterval = time.Second
	}
	if o.ReadFrom == "" {
		o.ReadFrom = ReadFromBeginning
	}
	if o.Words.File == "" {
		o.Words.File = "file"
	}
	if o.Words.Target == "" {
		o.Words.Target = "target"
	}
}

// Follower follows the files of the targets a discoverer reports: it
// opens and reads them, joins the chains of rotated files, keeps the
// open-file budget, emits batches, moves and saves positions as
// acknowledgements come, and reports what it could not read. See the
// package documentation for the contract.
type Follower struct {
	o        Options
	log      *slog.Logger
	m        *metrics.Component
	inflight *checkpoint.Inflight
	flusher  *checkpoint.Flusher
	budget   *tail.Budget
	losses   *tail.Losses
	buf      []byte

	running   atomic.Bool
	closeOnce sync.Once

	// Run-loop state, touched only by the goroutine in Run (and by Close
	// after Run returned).
	loaded        bool
	fresh         bool // no checkpoint existed: read_from applies to the first set
	firstSet      bool // the first full set was applied
	initial       bool // the first full set is being applied and its files found
	groups        map[string]*group
	groupOf       map[string]*group // target key -> its group
	order         []*chain
	byDir         map[string][]*chain // chains by target directory
	byPath        map[string]*chain   // open file path -> its chain
	waitingFor    map[string][]string // watched directory -> target directories below it not created yet
	watcher       *fswatch.Watcher
	failing       map[string]string // path -> error last logged for it
	cursor        int               // where the next round starts in order
	waiting       []*chain          // chains whose newest file waits for room (budget.go)
	startsDone    bool              // a chain's start was decided since the last save
	lastStartSave time.Time         // when saveStarts last saved
	updates       chan []discovery.Group
	queue         chan *event.Batch // read batches waiting for the emitter
	room          chan struct{}     // the emitter took a batch from queue
	bg            sync.WaitGroup    // discovery, emitter

	// mu guards chains, positions and the positions' files against the
	// Flusher's snapshots.
	mu        sync.Mutex
	chains    map[string]*chain
	positions map[string]*position

	board statusBoard // snapshots of the targets for the status page (status.go)
}

// New builds a follower. It reads nothing before Run.
func New(o Options) (*Follower, error) {
	if o.Store == nil {
		return nil, errors.New("follow: no Store")
	}
	if o.Metrics == nil {
		return nil, errors.New("follow: no Metrics")
	}
	o.setDefaults()
	f := &Follower{
		o: o, log: o.Logger, m: o.Metrics,
		inflight:  checkpoint.NewInflight(o.Metrics.Unacknowledged),
		buf:       make([]byte, readBufferSize),
		groups:    map[string]*group{},
		groupOf:   map[string]*group{},
		byDir:     map[string][]*chain{},
		byPath:    map[string]*chain{},
		failing:   map[string]string{},
		queue:     make(chan *event.Batch, emitQueue),
		room:      make(chan struct{}, 1),
		chains:    map[string]*chain{},
		positions: map[string]*position{},
	}
	f.flusher = checkpoint.NewFlusher(o.CheckpointInterval, f.save, f.log, f.m.Errors("checkpoint"))
	max := o.MaxOpenFiles
	if max == 0 {
		max = tail.DefaultMaxOpenFiles()
	}
	var err error
	if f.budget, err = tail.NewBudget(max, f.m, f.log); err != nil {
		return nil, fmt.Errorf("follow: %w", err)
	}
	if f.losses, err = tail.NewLosses(f.m); err != nil {
		return nil, fmt.Errorf("follow: %w", err)
	}
	return f, nil
}

// CheckpointPath is where the positions are kept.
func (f *Follower) CheckpointPath() string { return f.o.Store.Path() }

// Budget is the open-file budget (its Stats may be read at any time).
func (f *Follower) Budget() *tail.Budget { return f.budget }

// Losses counts the files lost, by reason.
func (f *Follower) Losses() *tail.Losses { return f.losses }

// Run follows what d reports, emitting to out, until ctx ends. It returns
// an error only when the checkpoint exists but cannot be read (not when it
// is damaged: then it starts without one); the caller retries later. A
// discoverer whose Run fails is logged, counted (errors_total{stage=
// "discovery"}) and run again.
func (f *Follower) Run(ctx context.Context, d discovery.Discoverer, out component.Emitter) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("follow: Run called while already running")
	}
	defer f.running.Store(false)
	if !f.loaded {
		existed, err := f.load()
		if err != nil {
			return err
		}
		f.fresh, f.loaded = !existed, true
	}
	f.rewindFailed()

	f.watcher = f.o.NewWatcher.StartOrWarn(f.o.UseFsnotify, f.log, f.m.Errors("watch"), "new files and data are found by scans and polls only")
	stopFlusher := f.flusher.Start()
	rctx, cancel := context.WithCancel(ctx)
	f.updates = make(chan []discovery.Group)
	f.bg.Go(func() { f.discover(rctx, d) })
	f.bg.Go(func() { f.emitLoop(rctx, out) })
	defer func() {
		cancel()
		f.bg.Wait()
		f.failQueued()
		stopFlusher()
		if f.watcher != nil {
			f.watcher.Close()
			f.watcher = nil
		}
	}()
	f.loop(rctx)
	return nil
}

// discover runs the discoverer until ctx ends and forwards its groups to
// the run loop; a Run that fails is run again after a pause.
func (f *Follower) discover(ctx context.Context, d discovery.Discoverer) {
	discovery.Supervise(ctx, d.Run, func(gs []discovery.Group, _ bool) bool {
		select {
		case f.updates <- gs:
			return true
		case <-ctx.Done():
			return false
		}
	}, func(err error, again bool) time.Duration {
		f.m.Errors("discovery").Inc()
		if !again {
			f.log.Error("discovery failed; starting it again", "error", err, "retry_in", rediscoverDelay)
		}
		return rediscoverDelay
	})
}

// loop is the run loop: it applies the discoverer's groups, finds the
// targets' files, and serves the targets that are due, until ctx ends.
func (f *Follower) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var wake <-chan struct{}
	if f.watcher != nil {
		wake = f.watcher.Wake()
	}
	var nextScan, nextDeep, lastScan, lastRound time.Time
	fullPending := false
	dirty := map[string]struct{}{}
	for {
		if ctx.Err() != nil {
			return
		}
		now := time.Now().Round(0)
		f.board.tick(now)
		f.drainUpdates(ctx, now, dirty)
		if f.watcher != nil {
			fullPending = f.takeHints(now, dirty) || fullPending
		}
		if f.firstSet {
			switch {
			case !now.Before(nextScan) || fullPending && now.Sub(lastScan) >= minEventScanGap:
				deep := fullPending || !now.Before(nextDeep)
				f.scanAll(now, deep)
				if deep {
					nextDeep = now.Add(max(f.o.ScanInterval, watchedScanInterval))
				}
				lastScan, nextScan, fullPending = now, now.Add(f.o.ScanInterval), false
				clear(dirty)
			case len(dirty) > 0:
				f.scanDirs(dirty, now)
				clear(dirty)
				f.syncWatches()
			}
			f.saveStarts(now)
		}
		busy, blocked, err := f.round(ctx, now)
		lastRound = now
		if err != nil {
			return // ctx ended
		}
		f.publishStatus(now)
		f.retryWaiting(time.Now().Round(0))
		if busy && !blocked {
			continue
		}
		due := now.Add(time.Hour)
		if f.firstSet {
			due = nextScan
			if fullPending {
				due = minTime(due, lastScan.Add(minEventScanGap))
			}
		}
		due = minTime(due, f.nextDue(now, blocked))
		if f.startsDone {
			due = minTime(due, f.lastStartSave.Add(minEventScanGap))
		}
		d := time.Until(due)
		if d <= 0 {
			continue
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-f.room:
		case <-timer.C:
		case <-wake:
			if !f.watcher.Coalesce(ctx, lastRound, wakeGap) {
				return
			}
		case gs := <-f.updates:
			f.apply(gs, time.Now().Round(0), dirty)
		}
	}
}

// drainUpdates applies the groups that are ready, without waiting.
func (f *Follower) drainUpdates(ctx context.Context, now time.Time, dirty map[string]struct{}) {
	for ctx.Err() == nil {
		select {
		case gs := <-f.updates:
			f.apply(gs, now, dirty)
		default:
			return
		}
	}
}

// saveStarts saves the positions as soon as the first full set decided
// where its targets start, before anything is read, so that a crash before
// the first periodic save does not make the next start a first start again
// (read_from = "end" would skip what was written in between, and purges
// would go unreported); and, with ReadFromEveryStart, as soon as any
// target's start is decided (the next start would apply read_from to it).
// A failure is logged by the Flusher, which retries.
func (f *Follower) saveStarts(now time.Time) {
	if !f.startsDone || now.Before(f.lastStartSave.Add(minEventScanGap)) {
		return
	}
	f.startsDone, f.lastStartSave = false, now
	f.flusher.Mark()
	_ = f.flusher.Flush()
}

// nextDue returns when a target needs attention. While the emit queue is
// full (blocked), targets wait for room instead.
func (f *Follower) nextDue(now time.Time, blocked bool) time.Time {
	due := now.Add(time.Hour)
	for _, c := range f.order {
		if c.closed || !c.ready || blocked {
			continue
		}
		if len(c.files) > 0 {
			due = minTime(due, c.poll.Next)
		} else if !c.endAt.IsZero() {
			due = minTime(due, c.endAt.Add(f.o.EndIdle))
		}
	}
	return due
}

// Close waits until the emitted batches are acknowledged or ctx ends, saves
// the positions, reports the unread data of deleted files and closes the
// files. Call it once, after Run returned.
func (f *Follower) Close(ctx context.Context) error {
	if f.running.Load() {
		return errors.New("follow: Close called while Run is running")
	}
	var errs []error
	f.closeOnce.Do(func() {
		var save func() error
		if f.loaded {
			save = f.flusher.Flush
		}
		errs = f.inflight.Settle(ctx, f.log, save)
		f.reportUndeliveredAll()
		for _, c := range f.order {
			if !c.closed {
				errs = append(errs, f.closeFiles(c)...)
				f.m.ForgetFile(c.label)
			}
		}
		f.order = nil
		f.reportStates()
	})
	return errors.Join(errs...)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
