package checkpoint

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/health"
)

// Flusher persists a state periodically while it changes.
//
// The owner of the state calls Mark after every change (from any goroutine;
// Mark is a single atomic increment). Run calls Save every Interval when
// something was marked since the last successful save; Flush saves at once
// when needed (at shutdown). A failed save is retried at the next tick; it is
// logged once per run of failures, with a reminder every few minutes while
// the run lasts and one line when saving works again (a health.Streak), and
// counted every time in Errors.
type Flusher struct {
	interval time.Duration
	save     func() error
	errors   prometheus.Counter
	failures *health.Streak

	gen atomic.Uint64

	mu    sync.Mutex // serialises saves
	saved uint64
}

// NewFlusher returns a Flusher that calls save. logger and errors may be nil.
func NewFlusher(interval time.Duration, save func() error, logger *slog.Logger, errors prometheus.Counter) *Flusher {
	if interval <= 0 {
		interval = time.Second
	}
	return &Flusher{interval: interval, save: save, errors: errors,
		failures: health.NewStreak(health.StreakConfig{Logger: logger, Level: slog.LevelError, Remind: health.DefaultRemind})}
}

// Mark records that the state changed.
func (f *Flusher) Mark() { f.gen.Add(1) }

// Run saves every interval while the state changes, until ctx ends. It does
// not save at the end: call Flush for that.
func (f *Flusher) Run(ctx context.Context) {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = f.Flush()
		}
	}
}

// Flush saves now if the state changed since the last successful save, and
// returns the save's error.
func (f *Flusher) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	gen := f.gen.Load()
	if gen == f.saved {
		return nil
	}
	if err := f.save(); err != nil {
		if f.errors != nil {
			f.errors.Inc()
		}
		f.failures.Fail("saving checkpoint failed; retrying at every interval", "save_failed", err, 0)
		return err
	}
	f.failures.End("saving checkpoint works again")
	f.saved = gen
	return nil
}
