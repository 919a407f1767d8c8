package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
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
	// Idle files are polled (fstat) with a backoff from minPoll doubling up
	// to maxPollWatched when fsnotify watches their directory (its write
	// events wake them at once), maxPollUnwatched otherwise.
	minPoll          = 25 * time.Millisecond
	maxPollWatched   = time.Second
	maxPollUnwatched = 250 * time.Millisecond
	// minEventScanGap rate-limits the rescans that fsnotify events ask for.
	minEventScanGap = 50 * time.Millisecond
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

	// mu guards files, known and tracked.path against the Flusher's
	// snapshots.
	mu    sync.Mutex
	files map[tail.FileID]*tracked
	known map[tail.FileID]*knownFile
}

// tracked is one open file.
type tracked struct {
	r      *tail.Reader
	path   string
	behind prometheus.Gauge

	nextPoll   time.Time
	backoff    time.Duration
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
		cfg:      cfg,
		cctx:     ctx,
		log:      ctx.Logger,
		m:        ctx.Metrics,
		match:    newMatcher(cfg.Include, cfg.Exclude),
		store:    checkpoint.File{Path: checkpoint.PathFor(ctx.DataDir, "file", ctx.ID), Version: stateVersion},
		inflight: tail.NewInflight(ctx.Metrics.Unacknowledged),
		buf:      make([]byte, readBufferSize),
		byPath:   map[string]*tracked{},
		failing:  map[string]string{},
		ignored:  map[tail.FileID]int64{},
		skipped:  map[string]struct{}{},
		files:    map[tail.FileID]*tracked{},
		known:    map[tail.FileID]*knownFile{},
	}
	s.flusher = checkpoint.NewFlusher(cfg.CheckpointInterval, s.save, s.log, s.m.Errors("checkpoint"))
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
	fctx, stopFlusher := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.flusher.Run(fctx)
	}()
	s.watcher = w
	defer func() {
		stopFlusher()
		wg.Wait()
		if w != nil {
			w.close()
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
		wake = w.wake
	}
	var nextScan, lastScan time.Time
	pendingRescan := false
	for {
		if ctx.Err() != nil {
			return nil
		}
		now := time.Now().Round(0)
		if w != nil {
			written, rescan := w.take()
			for p := range written {
				if t := s.byPath[p]; t != nil {
					t.nextPoll = now
				}
			}
			pendingRescan = pendingRescan || rescan
		}
		if !now.Before(nextScan) || pendingRescan && now.Sub(lastScan) >= minEventScanGap {
			s.scan(now)
			lastScan, nextScan, pendingRescan = now, now.Add(s.cfg.ScanInterval), false
		}
		busy, err := s.round(ctx, out, now)
		if err != nil {
			return nil // ctx ended while emitting
		}
		if busy {
			continue
		}
		due := nextScan
		if pendingRescan {
			due = minTime(due, lastScan.Add(minEventScanGap))
		}
		for _, t := range s.order {
			due = minTime(due, t.nextPoll)
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
		}
	}
}

// round serves every file that is due once. busy reports whether any file
// had data (another round should follow at once).
func (s *Source) round(ctx context.Context, out component.Emitter, now time.Time) (busy bool, err error) {
	for _, t := range s.order {
		if t.closed || now.Before(t.nextPoll) {
			continue
		}
		got, err := s.service(ctx, out, t, now)
		busy = busy || got
		if err != nil {
			return busy, err
		}
	}
	// Drop the files closed in this round.
	kept := s.order[:0]
	for _, t := range s.order {
		if !t.closed {
			kept = append(kept, t)
		}
	}
	clear(s.order[len(kept):])
	s.order = kept
	return busy, nil
}

// service checks one file, reads up to perFileBudget bytes of it, and closes
// it when it is gone and done. got reports whether bytes were read.
func (s *Source) service(ctx context.Context, out component.Emitter, t *tracked, now time.Time) (got bool, err error) {
	st, serr := t.r.Stat()
	if serr != nil {
		s.readFailed(t, serr)
		s.schedule(t, now, false)
		return false, nil
	}
	t.deleted = st.Deleted
	if st.Grew {
		t.lastGrowth = now
	}
	if st.Truncated {
		s.m.Errors("file_truncated").Inc()
		s.log.Warn("file truncated or its content replaced; reading it again from the beginning",
			"file", t.path, "offset", t.r.Offset(), "size", st.Size)
		b, rerr := t.r.Restart(now)
		if err := s.emit(ctx, out, b); err != nil {
			return false, err
		}
		if rerr != nil {
			s.readFailed(t, rerr)
		}
		t.lastGrowth = now
	}

	read, eof, failed := 0, false, false
	for read < perFileBudget {
		b, n, rerr := t.r.Read(s.buf, now)
		read += n
		if err := s.emit(ctx, out, b); err != nil {
			return read > 0, err
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				eof = true
			} else {
				failed = true
				s.readFailed(t, rerr)
			}
			break
		}
	}
	if !failed && t.readErr != "" {
		s.log.Info("reading file works again", "file", t.path)
		t.readErr = ""
	}
	t.behind.Set(float64(t.r.Behind()))
	if read > 0 {
		t.lastGrowth = now
	}
	s.schedule(t, now, read > 0)

	if !t.goneAt.IsZero() && eof && read == 0 {
		quiet := t.goneAt
		if t.lastGrowth.After(quiet) {
			quiet = t.lastGrowth
		}
		if now.Sub(quiet) >= s.cfg.RotateWait {
			return false, s.closeFile(ctx, out, t, now)
		}
		t.nextPoll = minTime(t.nextPoll, quiet.Add(s.cfg.RotateWait))
	}
	return read > 0, nil
}

// schedule sets when t is polled next: at once after data, else with a
// doubling backoff, and never after its held line's deadline.
func (s *Source) schedule(t *tracked, now time.Time, gotData bool) {
	if gotData {
		t.backoff = 0
		t.nextPoll = now
		return
	}
	maxPoll := maxPollUnwatched
	if s.watched(t.path) {
		maxPoll = maxPollWatched
	}
	t.backoff = min(max(2*t.backoff, minPoll), maxPoll)
	t.nextPoll = now.Add(t.backoff)
	if dl, ok := t.r.PartialDeadline(); ok {
		t.nextPoll = minTime(t.nextPoll, dl)
	}
}

// watched reports whether fsnotify reports writes to path.
func (s *Source) watched(path string) bool {
	return s.watcher != nil && s.watcher.watching(dirOf(path))
}

// emit hands b to out and releases the source's own hold of its Ack.
func (s *Source) emit(ctx context.Context, out component.Emitter, b *event.Batch) error {
	if b == nil {
		return nil
	}
	if err := out.Emit(ctx, b); err != nil {
		b.Ack.Release(event.Failed)
		return err
	}
	s.m.SentEvents.Add(float64(len(b.Events)))
	b.Ack.Release(event.Delivered)
	return nil
}

// closeFile flushes a held line, closes t and keeps its position (unless
// the file is deleted: its inode will be reused by another file).
func (s *Source) closeFile(ctx context.Context, out component.Emitter, t *tracked, now time.Time) error {
	if err := s.emit(ctx, out, t.r.Flush(now)); err != nil {
		return err
	}
	if err := t.r.Close(); err != nil {
		s.log.Warn("closing file", "file", t.path, "error", err)
	}
	t.closed = true
	s.mu.Lock()
	delete(s.files, t.r.ID())
	if !t.deleted {
		s.known[t.r.ID()] = &knownFile{path: t.path, prog: t.r.Progress(), lastSeen: now}
	}
	s.mu.Unlock()
	if s.byPath[t.path] == t {
		delete(s.byPath, t.path)
	}
	s.m.FilesOpen.Dec()
	s.m.ForgetFile(t.path)
	s.flusher.Mark()
	s.log.Debug("closed file that disappeared", "file", t.path, "deleted", t.deleted, "offset", t.r.Offset())
	return nil
}

// readFailed logs and counts a read error once until reading works again or
// the error changes.
func (s *Source) readFailed(t *tracked, err error) {
	if msg := err.Error(); msg != t.readErr {
		t.readErr = msg
		s.m.Errors("read").Inc()
		s.log.Error("reading file failed; retrying at every poll", "file", t.path, "error", err)
	}
}

// rewindFailed makes files whose batches failed (the previous Run ended
// before they were delivered) read those bytes again.
func (s *Source) rewindFailed() {
	for _, t := range s.order {
		if t.r.Progress().Failed() {
			t.r.Rewind()
			t.nextPoll = time.Time{}
			s.log.Info("reading again data whose delivery failed", "file", t.path, "offset", t.r.Offset())
		}
	}
}

// load reads the checkpoint into known. A corrupt checkpoint is logged,
// counted and ignored; an unreadable one is an error.
func (s *Source) load() error {
	var st state
	found, err := s.store.Load(&st)
	var corrupt *checkpoint.CorruptError
	switch {
	case err != nil && !errors.As(err, &corrupt) && !errors.Is(err, fs.ErrNotExist):
		s.m.Errors("checkpoint").Inc()
		return fmt.Errorf("loading checkpoint: %w", err)
	case err != nil && found:
		s.m.Errors("checkpoint").Inc()
		s.log.Warn("checkpoint unusable; using its previous version (some lines may be sent again)", "error", err)
	case err != nil:
		s.m.Errors("checkpoint").Inc()
		s.log.Error("checkpoint unusable; starting without one (files are read according to read_from)", "error", err)
	}
	if !found {
		return nil
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range st.Files {
		seen := e.LastSeen
		if seen.IsZero() {
			seen = now
		}
		fp := e.fingerprint()
		s.known[fp.FileID] = &knownFile{path: e.Path, prog: tail.NewProgress(fp, e.Offset, nil, nil), lastSeen: seen}
	}
	s.log.Debug("loaded checkpoint", "path", s.store.Path, "files", len(st.Files))
	return nil
}

// Close waits until the emitted batches are acknowledged or ctx ends, saves
// the checkpoint and closes the files. Call it once, after Run returned.
func (s *Source) Close(ctx context.Context) error {
	if s.running.Load() {
		return errors.New("file source: Close called while Run is running")
	}
	var errs []error
	s.closeOnce.Do(func() {
		if err := s.inflight.Wait(ctx); err != nil {
			s.log.Warn("closing with unacknowledged batches; their lines will be read again after a restart",
				"batches", s.inflight.Count())
			errs = append(errs, fmt.Errorf("waiting for acknowledgements: %w", err))
		}
		if s.loaded {
			if err := s.flusher.Flush(); err != nil {
				errs = append(errs, fmt.Errorf("saving checkpoint: %w", err))
			}
		}
		s.mu.Lock()
		for _, t := range s.order {
			if err := t.r.Close(); err != nil {
				errs = append(errs, err)
			}
			s.m.FilesOpen.Dec()
			s.m.ForgetFile(t.path)
		}
		s.order = nil
		s.files = map[tail.FileID]*tracked{}
		s.byPath = map[string]*tracked{}
		s.mu.Unlock()
	})
	return errors.Join(errs...)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
