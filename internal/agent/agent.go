// Package agent runs drover: it loads the configuration, sets up logging,
// metrics and the admin endpoint, starts the pipeline, reloads it on SIGHUP
// and stops it cleanly on SIGINT or SIGTERM.
package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/drover-dev/drover/internal/admin"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/topology"
)

// Options are the agent's inputs.
type Options struct {
	// ConfigPath is the configuration file; empty means DefaultConfig.
	ConfigPath string
	// LogOutput receives drover's own logs (standard error by default:
	// standard output belongs to the stdout sink).
	LogOutput io.Writer
	// LookupEnv resolves env() in the configuration (os.LookupEnv by default).
	LookupEnv func(string) (string, bool)
}

// LoadConfig loads the configuration the options name.
func LoadConfig(opts Options) (*config.Config, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if opts.ConfigPath == "" {
		return config.Load(DefaultConfigName, []byte(DefaultConfig), lookup)
	}
	src, err := os.ReadFile(opts.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return config.Load(opts.ConfigPath, src, lookup)
}

// Agent is one running drover.
type Agent struct {
	opts     Options
	cfg      *config.Config
	level    *slog.LevelVar
	logger   *slog.Logger
	metrics  *metrics.Registry
	topo     *topology.Topology
	admin    *admin.Server
	dataLock *os.File
}

// Run loads the configuration, runs the pipeline until ctx ends or SIGINT
// or SIGTERM arrives, and shuts down cleanly. SIGHUP reloads the
// configuration. It returns an error only when drover could not start.
func Run(ctx context.Context, opts Options) error {
	cfg, err := LoadConfig(opts)
	if err != nil {
		return err
	}
	a, err := Start(cfg, opts)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			a.logger.Info("stopping")
			a.Stop()
			return nil
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				a.Reload()
				continue
			}
			a.logger.Info("stopping", "signal", sig.String(), "shutdown_timeout", a.cfg.ShutdownTimeout)
			// A second signal during shutdown stops at once; what was not
			// acknowledged is read again on the next start.
			go func() {
				if sig, ok := <-sigs; ok && sig != syscall.SIGHUP {
					a.logger.Warn("second signal: exiting without waiting for delivery", "signal", sig.String())
					os.Exit(1)
				}
			}()
			a.Stop()
			return nil
		}
	}
}

func newLogger(cfg *config.Config, out io.Writer, level *slog.LevelVar) *slog.Logger {
	level.Set(parseLevel(cfg.Log.Level))
	hopts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(out, hopts))
	}
	return slog.New(slog.NewTextHandler(out, hopts))
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// Start sets up and starts everything cfg describes.
func Start(cfg *config.Config, opts Options) (*Agent, error) {
	if opts.LogOutput == nil {
		opts.LogOutput = os.Stderr
	}
	a := &Agent{opts: opts, cfg: cfg, level: &slog.LevelVar{}, metrics: metrics.New()}
	a.logger = newLogger(cfg, opts.LogOutput, a.level)
	slog.SetDefault(a.logger)
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a.dataLock = lock
	host, err := os.Hostname()
	if err != nil {
		a.logger.Warn("cannot read the host name; the host field will be empty", "error", err)
	}
	a.topo = topology.New(topology.Options{Metrics: a.metrics, Logger: a.logger, Host: host})
	if cfg.Admin.Enabled {
		a.admin, err = admin.Start(cfg.Admin, a.metrics, a.topo.Ready, a.logger)
		if err != nil {
			lock.Close()
			return nil, err
		}
	}
	if err := a.topo.Start(cfg); err != nil {
		a.closeAdmin()
		lock.Close()
		return nil, err
	}
	a.logger.Info("drover started", "config", cfg.Path, "data_dir", cfg.DataDir,
		"sources", len(cfg.Sources()), "transforms", len(cfg.Transforms()), "sinks", len(cfg.Sinks()))
	return a, nil
}

// AdminAddr is the admin endpoint's address, or "" when it is off.
func (a *Agent) AdminAddr() string {
	if a.admin == nil {
		return ""
	}
	return a.admin.Addr()
}

// Reload reads the configuration file again and applies it. An invalid
// configuration is logged and the running one kept.
func (a *Agent) Reload() {
	cfg, err := LoadConfig(a.opts)
	if err != nil {
		a.logger.Error("reload: invalid configuration; keeping the running one", "error", err)
		return
	}
	if cfg.DataDir != a.cfg.DataDir {
		a.logger.Warn("reload: data_dir changes take effect after a restart; keeping the current one",
			"current", a.cfg.DataDir, "configured", cfg.DataDir)
		cfg.DataDir = a.cfg.DataDir
	}
	if cfg.Log.Format != a.cfg.Log.Format {
		a.logger = newLogger(cfg, a.opts.LogOutput, a.level)
		slog.SetDefault(a.logger)
	}
	a.level.Set(parseLevel(cfg.Log.Level))
	if cfg.Admin != a.cfg.Admin {
		a.closeAdmin()
		if cfg.Admin.Enabled {
			srv, err := admin.Start(cfg.Admin, a.metrics, a.topo.Ready, a.logger)
			if err != nil {
				a.logger.Error("reload: admin endpoint not restarted", "error", err)
			}
			a.admin = srv
		}
	}
	changes, err := a.topo.Reload(cfg)
	if err != nil {
		a.logger.Error("reload failed; keeping the running components", "error", err)
		return
	}
	a.cfg = cfg
	a.logger.Info("configuration reloaded", "added", changes.Added, "changed", changes.Changed,
		"removed", changes.Removed, "kept", changes.Kept)
}

// Stop shuts the pipeline down (see topology.Stop), then the admin endpoint.
func (a *Agent) Stop() {
	a.topo.Stop()
	a.closeAdmin()
	if a.dataLock != nil {
		a.dataLock.Close()
	}
	a.logger.Info("drover stopped")
}

func (a *Agent) closeAdmin() {
	if a.admin == nil {
		return
	}
	if err := a.admin.Close(); err != nil {
		a.logger.Warn("closing admin endpoint", "error", err)
	}
	a.admin = nil
}
