package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/discovery/glob"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/follow"
	"github.com/drover-dev/drover/internal/fswatch"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/tail"
)

func init() { component.RegisterSource("file", NewConfig, New) }

// startWatcher starts fsnotify; a variable so that tests can make it
// unavailable.
var startWatcher = fswatch.New

// Source is the file source: the files matching the glob patterns
// (internal/discovery/glob), followed by internal/follow. Build it with
// New; see component.Source for the Run/Close contract.
type Source struct {
	cfg    *Config
	log    *slog.Logger
	m      *metrics.Component
	disc   *glob.Discoverer
	f      *follow.Follower
	budget *tail.Budget
	losses *tail.Losses
	// watching counts the fsnotify watchers started and running (the
	// discoverer's and the follower's), for tests.
	watching atomic.Int32
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
	s := &Source{cfg: cfg, log: ctx.Logger, m: ctx.Metrics}
	newWatcher := func(log *slog.Logger) (*fswatch.Watcher, error) {
		w, err := startWatcher(log)
		if err == nil {
			s.watching.Add(1)
		}
		return w, err
	}
	host := ctx.Host
	s.disc = glob.New(glob.Options{
		Include: cfg.Include, Exclude: cfg.Exclude,
		ScanInterval: cfg.ScanInterval, UseFsnotify: cfg.UseFsnotify, NewWatcher: newWatcher,
		Meta:   func(p string) *event.Meta { return metaFor(ctx.ID, host, p) },
		Logger: s.log, Metrics: s.m,
	})
	f, err := follow.New(cfg.Options.Follow(follow.Options{
		Logger: s.log, Metrics: s.m,
		Store: &store{
			file: checkpoint.File{Path: checkpoint.PathFor(ctx.DataDir, "file", ctx.ID), Version: stateVersion},
			log:  s.log, errs: s.m.Errors("checkpoint"),
		},
		ReadFromEveryStart: true, IgnoreOlder: cfg.IgnoreOlder,
		ScanInterval: cfg.ScanInterval, NewWatcher: newWatcher, EndIdle: cfg.RotateWait,
		Words: follow.Words{File: "file", Target: "file"},
	}))
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	s.f, s.budget, s.losses = f, f.Budget(), f.Losses()
	return s, nil
}

// CheckpointPath is where the source keeps its read positions.
func (s *Source) CheckpointPath() string { return s.f.CheckpointPath() }

// Run follows the files until ctx ends. It returns an error only when the
// checkpoint exists but cannot be read (not when it is corrupt: then it
// starts without one); the agent retries later.
func (s *Source) Run(ctx context.Context, out component.Emitter) error {
	if err := s.f.Run(ctx, s.disc, out); err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	return nil
}

// Close waits until the emitted batches are acknowledged or ctx ends, saves
// the checkpoint and closes the files. Call it once, after Run returned.
func (s *Source) Close(ctx context.Context) error { return s.f.Close(ctx) }

// metaFor builds the shared metadata of the events of the file at p.
func metaFor(id, host, p string) *event.Meta {
	return event.NewMeta(id, event.NewFields(
		event.Field{Key: "file", Value: event.StringValue(p)},
		event.Field{Key: "host", Value: event.StringValue(host)},
		event.Field{Key: "source_type", Value: event.StringValue("file")},
	))
}
