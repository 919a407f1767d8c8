package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/drover-dev/drover/internal/render/vector"
)

// watchWithReload runs vector.Watch until ctx ends. Every value on reload
// loads the configuration again and, when it is valid, restarts the watch
// with it (a new discovery and a fresh look at the output directory); an
// invalid configuration is logged and the running watch goes on. It
// returns the error that ended a watch, nil when ctx ended. opts.Logger
// must be set.
func watchWithReload(ctx context.Context, opts vector.Options, reload <-chan os.Signal, load func() (vector.Config, error)) error {
	for {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- vector.Watch(wctx, opts) }()
		next, stopped, err := waitReload(ctx, done, reload, load, opts.Logger)
		cancel()
		if stopped {
			return err
		}
		<-done
		opts.Config = next
	}
}

// waitReload waits for the watch to end (stopped) or for a valid reload
// (the new configuration).
func waitReload(ctx context.Context, done <-chan error, reload <-chan os.Signal, load func() (vector.Config, error), log *slog.Logger) (next vector.Config, stopped bool, err error) {
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil {
				return vector.Config{}, true, nil
			}
			return vector.Config{}, true, err
		case <-reload:
			cfg, err := load()
			if err != nil {
				log.Error("configuration not reloaded; the running watch goes on", "error", err)
				continue
			}
			log.Info("configuration reloaded; restarting the watch", "out_dir", cfg.OutDir)
			return cfg, false, nil
		}
	}
}
