package checkpoint

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Flusher persists a state periodically while it changes.
//
// The owner of the state calls Mark after every change (from any goroutine;
// Mark is a single atomic increment). Run calls Save every Interval when
// something was marked since the last successful save; Flush saves at once
// when needed (at shutdown). A failed save is retried at the next tick; it is
// logged once per run of failures (and once when saving works again) and
// counted every time in Errors.
type Flusher struct {
	interval time.Duration
	save     func() error
	log      *slog.Logger
	errors   prometheus.Counter

	gen atomic.Uint64

	mu      sync.Mutex // serialises saves
	saved   uint64
	failing bool
}

// NewFlusher returns a Flusher that calls save. logger and errors may be nil.
func NewFlusher(interval time.Duration, save func() error, logger *slog.Logger, errors prometheus.Counter) *Flusher {
	if interval <= 0 {
		interval = time.Second
	}
	return &Flusher{interval: interval, save: save, log: logger, errors: errors}
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
		if !f.failing && f.log != nil {
			f.log.Error("saving checkpoint failed; retrying at every interval", "error", err)
		}
		f.failing = true
		return err
	}
	if f.failing && f.log != nil {
		f.log.Info("saving checkpoint works again")
	}
	f.failing = false
	f.saved = gen
	return nil
}
