package vector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/drover-dev/drover/internal/discovery/nomad"
)

// Render writes the configuration of the node's allocations once. It
// reads the node's allocation list (the discovery's first full set),
// renders a file for every allocation with selected tasks, terminal ones
// included (Render has no memory between runs: their files stay until
// Nomad garbage-collects the allocation), writes the placeholder when no
// allocation has a file, and removes drover's files of every other
// allocation. When an allocation cannot be rendered nothing is written.
//
// Errors that retrying may fix (agent unreachable, 5xx) are retried until
// ctx ends: bound ctx. A 403, an unknown node or an agent without a client
// end Render at once.
func Render(ctx context.Context, opts Options) (Report, error) {
	log := opts.logger()
	r, err := NewRenderer(&opts.Config)
	if err != nil {
		return Report{}, err
	}
	w, release, err := opts.newWatcher(log)
	if err != nil {
		return Report{}, err
	}
	defer release()
	groups, err := firstSet(ctx, w)
	if err != nil {
		return Report{}, err
	}
	plan := Plan{Write: make(map[string]File)}
	for i := range groups {
		g := &groups[i]
		f, ok, err := r.Alloc(g)
		if err != nil {
			return Report{}, err
		}
		if !ok {
			warnSkipped(log, g)
			continue
		}
		plan.Write[g.AllocID] = f
	}
	if ph, ok, err := r.Placeholder(); err != nil {
		return Report{}, err
	} else if ok {
		plan.Placeholder = &ph
	}
	dir, err := OpenDir(opts.Config.OutDir, r.Names())
	if err != nil {
		return Report{}, err
	}
	rep, err := dir.Apply(plan)
	logReport(log, dir.Path(), rep)
	if opts.Synced != nil {
		opts.Synced(rep, err)
	}
	return rep, err
}

// firstSet runs the watcher until its first full set of groups.
func firstSet(ctx context.Context, w *nomad.Watcher) ([]nomad.Group, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	up := make(chan []nomad.Group, 1)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, up) }()
	select {
	case groups := <-up:
		cancel()
		if err := <-done; err != nil {
			return nil, err
		}
		return groups, nil
	case err := <-done:
		if err == nil {
			err = ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("no allocation list from Nomad before the command's time ran out (see the warnings above): %w", err)
		}
		return nil, err
	}
}

// warnSkipped logs a group that has targets but got no file.
func warnSkipped(log *slog.Logger, g *nomad.Group) {
	if len(g.Targets) > 0 {
		log.Warn("allocation skipped: its ID is not a UUID and cannot name a file", "alloc_id", g.AllocID)
	}
}

// logReport logs what changed in the output directory.
func logReport(log *slog.Logger, dir string, rep Report) {
	if len(rep.Written) == 0 && len(rep.Removed) == 0 {
		log.Debug("Vector configuration unchanged", "dir", dir, "files", len(rep.Files))
		return
	}
	log.Info("Vector configuration updated", "dir", dir, "written", rep.Written, "removed", rep.Removed, "files", len(rep.Files))
}
