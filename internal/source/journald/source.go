package journald

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
)

// Internal limits, documented in docs/components/source-journald.md.
const (
	// maxBatchEvents bounds the entries of one batch. A batch is also
	// emitted as soon as journalctl has nothing more written.
	maxBatchEvents = 1000
	// maxLineBytes bounds one line of journalctl's output (one entry in
	// JSON, where a binary byte takes up to four bytes); longer entries are
	// discarded and counted.
	maxLineBytes = 16 << 20
	// checkTimeout bounds the journalctl run that checks a cursor.
	checkTimeout = 30 * time.Second
	// Restarts of a failing journalctl back off from restartInitial to
	// restartMax.
	restartInitial = time.Second
	restartMax     = 30 * time.Second
	// maxLoggedStderr bounds the distinct journalctl messages logged.
	maxLoggedStderr = 100
)

// Source is the journald source. Build it with New; see component.Source
// for the Run/Close contract.
type Source struct {
	cfg     *Config
	id      string
	path    string // journalctl, resolved
	log     *slog.Logger
	m       *metrics.Component
	file    checkpoint.File
	flusher *checkpoint.Flusher
	build   *builder

	// Set by load; tracker is safe for concurrent use.
	loaded  bool
	tracker *tracker
	pub     published // for Describe (describe.go)

	// Used by Run's goroutine only (Run calls do not overlap).
	initial  origin // where reading starts without a usable cursor
	resume   origin // where the next journalctl starts
	badCurs  string // a cursor found unusable in this process
	failures *health.Streak

	stderrMu   sync.Mutex
	stderrSeen map[string]bool
}

// New builds a journald source from a valid configuration. It fails when
// journalctl cannot be found: the source reads the journal through it.
func New(cctx component.Context, cfg *Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	path, err := exec.LookPath(cfg.JournalctlPath)
	if err != nil {
		return nil, fmt.Errorf("journald source: journalctl not found (journalctl_path = %q): %w; "+
			"the source reads the journal through journalctl: install systemd (Debian and Ubuntu: apt-get install systemd) "+
			"or set journalctl_path", cfg.JournalctlPath, err)
	}
	if cctx.DataDir == "" {
		return nil, errors.New("journald source: the data directory is not set")
	}
	log := cctx.Log()
	m := cctx.Metrics
	if m == nil {
		m = metrics.ForTest(string(component.KindSource), SourceType, cctx.ID)
	}
	s := &Source{
		cfg:        cfg,
		id:         cctx.ID,
		path:       path,
		log:        log,
		m:          m,
		file:       checkpoint.File{Path: checkpoint.PathFor(cctx.DataDir, SourceType, cctx.ID), Version: stateVersion},
		build:      newBuilder(cctx.ID, cctx.Host, cfg),
		stderrSeen: map[string]bool{},
		failures: health.NewStreak(health.StreakConfig{Logger: log, Health: cctx.Health, Condition: health.ConditionRead,
			Level: slog.LevelError, Remind: health.DefaultRemind}),
	}
	s.flusher = checkpoint.NewFlusher(cfg.CheckpointInterval, s.save, log, m.Errors("checkpoint"))
	return s, nil
}

// StatePath is where the source keeps its cursor.
func (s *Source) StatePath() string { return s.file.Path }

// Run follows the journal until ctx ends. A journalctl that fails is
// started again with backoff, where the previous one stopped. Run returns
// an error only when the cursor file cannot be read.
func (s *Source) Run(ctx context.Context, out component.Emitter) error {
	if !s.loaded {
		if err := s.load(); err != nil {
			return err
		}
	}
	fctx, stopFlusher := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.flusher.Run(fctx) })
	defer func() {
		stopFlusher()
		wg.Wait()
	}()

	bo := backoff.Backoff{Initial: restartInitial, Max: restartMax}
	for ctx.Err() == nil {
		if s.tracker.FailedBatch() {
			s.rewind()
		}
		read, err := s.session(ctx, out)
		if ctx.Err() != nil {
			return nil
		}
		var bad *invalidCursorError
		switch {
		case errors.Is(err, errRewind):
			continue
		case errors.As(err, &bad):
			s.invalidCursor(bad)
			continue
		}
		if read {
			bo.Reset()
		}
		s.reportFailure(err)
		wait := bo.Next()
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
	return nil
}

// rewind goes back to the committed position after a batch failed.
func (s *Source) rewind() {
	p := s.tracker.Rewind()
	s.resume = s.initial
	if p.Cursor != "" && p.Cursor != s.badCurs {
		s.resume = origin{cursor: p.Cursor}
	}
	s.log.Warn("a batch was not delivered; reading the journal again from the last acknowledged entry", "start", s.resume.String())
}

// invalidCursor reports a cursor the journal no longer holds and sets
// where reading restarts, as on_invalid_cursor says.
func (s *Source) invalidCursor(e *invalidCursorError) {
	s.m.Errors("cursor").Inc()
	s.badCurs = e.cursor
	switch s.cfg.OnInvalidCursor {
	case InvalidCursorOldest:
		s.initial = origin{}
	case InvalidCursorNow:
		s.initial = origin{now: true}
	default:
		s.initial = origin{}
		if t := microsTime(s.tracker.Snapshot().Realtime); !t.IsZero() {
			s.initial = origin{since: t}
		}
	}
	s.resume = s.initial
	s.log.Error("the saved journal cursor is unusable; reading restarts as on_invalid_cursor says (entries may be missing or repeated)",
		"cursor", e.cursor, "reason", e.reason, "on_invalid_cursor", s.cfg.OnInvalidCursor, "start", s.resume.String())
}

// Close waits until the emitted batches are acknowledged or ctx ends, then
// saves the cursor.
func (s *Source) Close(ctx context.Context) error {
	if s.tracker == nil {
		return nil
	}
	if err := s.tracker.Wait(ctx); err != nil {
		s.log.Warn("stopping with unacknowledged entries; they are read again at the next start",
			"batches", s.tracker.PendingBatches())
	}
	if err := s.flusher.Flush(); err != nil {
		return fmt.Errorf("saving the journal cursor: %w", err)
	}
	return nil
}

// stderrLine logs a line journalctl wrote to its standard error, once per
// distinct text (journalctl warns about unreadable or corrupt journal files
// and missing permissions there).
func (s *Source) stderrLine(line string) {
	s.stderrMu.Lock()
	seen := s.stderrSeen[line]
	if !seen && len(s.stderrSeen) < maxLoggedStderr {
		s.stderrSeen[line] = true
	}
	s.stderrMu.Unlock()
	if seen {
		s.log.Debug("journalctl: " + line)
		return
	}
	s.log.Warn("journalctl: " + line)
}
