package nomadlogs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/follow"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/tail"
)

// Source is the nomad_logs source: the node's task log streams
// (nomad.Discoverer: the API's allocations and the alloc dir), followed by
// internal/follow. Build it with New; see component.Source for the
// Run/Close contract and the package documentation for how it works.
type Source struct {
	cfg    *Config
	log    *slog.Logger
	m      *metrics.Component
	sm     *sourceMetrics
	dm     *nomad.Metrics
	w      *nomad.Watcher
	disc   *nomad.Discoverer
	store  *store
	f      *follow.Follower
	budget *tail.Budget
	losses *tail.Losses
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
	s := &Source{cfg: cfg, log: ctx.Logger, m: ctx.Metrics, sm: sm, dm: dm, w: w}
	s.store = &store{
		file: checkpoint.File{Path: checkpoint.PathFor(ctx.DataDir, nomad.SourceType, ctx.ID), Version: stateVersion},
		log:  s.log, errs: s.m.Errors("checkpoint"),
	}
	s.disc, err = nomad.NewDiscoverer(nomad.DiscovererOptions{
		Watcher: w, Config: cfg.Config, SourceID: ctx.ID,
		ScanInterval: cfg.ScanInterval, UseFsnotify: cfg.UseFsnotify, UnknownAllocWait: cfg.UnknownAllocWait,
		LastAllocDir: s.store.lastAllocDir, OnAllocDir: s.store.setAllocDir,
		Logger: s.log, Metrics: s.m, DiscoveryLag: sm.lag, PathMeta: sm.pathMeta,
	})
	if err != nil {
		return nil, fmt.Errorf("nomad_logs source: %w", err)
	}
	s.f, err = follow.New(cfg.Options.Follow(follow.Options{
		Logger: s.log, Metrics: s.m, Store: s.store, ScanInterval: cfg.ScanInterval, EndIdle: cfg.TerminalIdle,
		Words: follow.Words{
			File: "task log file", Target: "task stream",
			PurgedAdvice: "(raise the task's logs.max_files or max_file_size if drover falls this far behind)",
		},
		KeyAttrs: nomad.KeyAttrs,
		OnStates: sm.setStates,
	}))
	if err != nil {
		return nil, fmt.Errorf("nomad_logs source: %w", err)
	}
	s.budget, s.losses = s.f.Budget(), s.f.Losses()
	return s, nil
}

// CheckpointPath is where the source keeps its read positions.
func (s *Source) CheckpointPath() string { return s.f.CheckpointPath() }

// Run discovers and follows the node's task logs until ctx ends. It
// returns an error only when the checkpoint exists but cannot be read (not
// when it is corrupt: then it starts without one); the agent retries
// later. Nomad API failures never end it: files are found on disk and
// shipped with the metadata their path gives after unknown_alloc_wait.
func (s *Source) Run(ctx context.Context, out component.Emitter) error {
	if err := s.f.Run(ctx, s.disc, out); err != nil {
		return fmt.Errorf("nomad_logs source: %w", err)
	}
	return nil
}

// Close waits until the emitted batches are acknowledged or ctx ends, saves
// the checkpoint, reports the unread data of deleted files and closes the
// files. Call it once, after Run returned.
func (s *Source) Close(ctx context.Context) error { return s.f.Close(ctx) }
