package vector

import (
	"context"
	"log/slog"
	"time"

	"github.com/drover-dev/drover/internal/discovery/nomad"
)

// retryDelay is the wait before a failed change of the output directory
// (disk full, permissions) is tried again. Tests shorten it.
var retryDelay = 5 * time.Second

// Watch keeps the output directory current until ctx ends, then returns
// nil. It follows the node's allocations through the same discovery as the
// nomad_logs source (blocking queries, periodic resyncs) and, after each
// change, rewrites the files that changed, atomically, and removes the
// ones that are no longer wanted:
//
//   - an allocation gets a file as soon as the discovery reports it with
//     selected tasks, whatever its status: a batch allocation that ran
//     for a second is still listed, and its files are read from the
//     beginning;
//   - a terminal or garbage-collected allocation keeps its file for
//     stopped_grace, so that Vector reads its last lines;
//   - an allocation whose tasks are no longer selected loses its file at
//     once;
//   - files found at start whose allocation is not listed any more are
//     kept for stopped_grace, unchanged;
//   - the placeholder is written while no allocation has a file.
//
// Nothing in the directory changes before the first full set arrives.
// Errors of the discovery before it (403, unknown node) end Watch; later
// ones are retried by the discovery. A failed change of the directory is
// logged and tried again after a few seconds.
func Watch(ctx context.Context, opts Options) error {
	log := opts.logger()
	r, err := NewRenderer(&opts.Config)
	if err != nil {
		return err
	}
	var placeholder *File
	if ph, ok, err := r.Placeholder(); err != nil {
		return err
	} else if ok {
		placeholder = &ph
	}
	dir, err := OpenDir(opts.Config.OutDir, r.Names())
	if err != nil {
		return err
	}
	atStart, err := dir.Owned()
	if err != nil {
		return err
	}
	w, release, err := opts.newWatcher(log)
	if err != nil {
		return err
	}
	defer release()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	up := make(chan []nomad.Group)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, up) }()

	s := &watchState{
		log: log, r: r, dir: dir, opts: &opts, placeholder: placeholder,
		t: newTracker(opts.Config.StoppedGrace), timer: time.NewTimer(time.Hour),
	}
	s.timer.Stop()
	defer s.timer.Stop()
	first := true
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-done
			return nil
		case err := <-done:
			return err
		case groups := <-up:
			now := time.Now()
			s.apply(groups, now)
			if first {
				s.t.adopt(allocKeys(atStart), now)
				first = false
			}
			s.sync(now)
		case <-s.timer.C:
			s.sync(time.Now())
		}
	}
}

// watchState is the loop's state: one goroutine owns it.
type watchState struct {
	log         *slog.Logger
	r           *Renderer
	dir         *Dir
	opts        *Options
	placeholder *File
	t           *tracker
	timer       *time.Timer
}

// apply renders and records the groups of one send.
func (s *watchState) apply(groups []nomad.Group, now time.Time) {
	for i := range groups {
		g := &groups[i]
		f, ok, err := s.r.Alloc(g)
		if err != nil {
			s.log.Error("cannot render the allocation's Vector configuration; its last file, if any, stays", "alloc_id", g.AllocID, "error", err)
		} else if !ok {
			warnSkipped(s.log, g)
		}
		s.t.update(g, f, ok && err == nil, now)
	}
}

// sync drops the allocations whose grace ended, applies the plan and arms
// the timer for the next deadline (or a retry).
func (s *watchState) sync(now time.Time) {
	for _, id := range s.t.expire(now) {
		s.log.Info("stopped allocation's grace period ended; removing its Vector configuration", "alloc_id", id)
	}
	rep, err := s.dir.Apply(s.t.plan(s.placeholder))
	logReport(s.log, s.dir.Path(), rep)
	if s.opts.Synced != nil {
		s.opts.Synced(rep, err)
	}
	wait, arm := time.Duration(0), false
	if next, ok := s.t.next(); ok {
		wait, arm = max(next.Sub(now), 0), true
	}
	if err != nil {
		s.log.Error("cannot update the Vector configuration directory; retrying", "dir", s.dir.Path(), "error", err, "retry_in", retryDelay)
		if !arm || retryDelay < wait {
			wait, arm = retryDelay, true
		}
	}
	s.timer.Stop()
	if arm {
		s.timer.Reset(wait)
	}
}

// allocKeys returns the allocation IDs of drover's files.
func allocKeys(files []OwnedFile) []string {
	var out []string
	for _, f := range files {
		if !f.Temp && f.Key != placeholderKey {
			out = append(out, f.Key)
		}
	}
	return out
}
