// Package agent runs drover: it loads the configuration, sets up logging,
// metrics and the admin endpoint, starts the pipeline, reloads it on SIGHUP
// and stops it cleanly on SIGINT or SIGTERM.
package agent

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/drover-dev/drover/internal/admin"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/secret"
	"github.com/drover-dev/drover/internal/status"
	"github.com/drover-dev/drover/internal/topology"
)

// Options are the agent's inputs.
type Options struct {
	// ConfigPaths are the configuration files and directories, merged
	// into one configuration (see config.ReadPaths); none means
	// DefaultConfig.
	ConfigPaths []string
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
	if len(opts.ConfigPaths) == 0 {
		return config.Load(DefaultConfigName, []byte(DefaultConfig), lookup)
	}
	return config.LoadPaths(opts.ConfigPaths, lookup)
}

// Agent is one running drover.
type Agent struct {
	opts     Options
	cfg      *config.Config
	level    *slog.LevelVar
	logger   *slog.Logger
	metrics  *metrics.Registry
	health   *health.Registry
	redact   *secret.Handler // the logger's; its Redactor follows reloads
	secrets  secret.Set      // every secret seen since the start
	monitor  *health.Monitor
	topo     *topology.Topology
	admin    *admin.Server
	dataLock *os.File
	status   *status.Collector
	reloads  status.Reloads

	// stopping is set as soon as a stop is asked for: readiness answers
	// 503 from then on.
	stopping      atomic.Bool
	stopMonitor   context.CancelFunc
	monitorExited chan struct{}
}

// Run loads the configuration, runs the pipeline until ctx ends or SIGINT
// or SIGTERM arrives, and shuts down cleanly. SIGHUP reloads the
// configuration. It returns an error only when drover could not start.
//
// The signals are caught before anything else: one that arrives while the
// configuration loads or the pipeline starts waits in the channel and is
// acted on as soon as Start returns (a stop signal then stops drover
// cleanly instead of killing it with the signal's default action).
func Run(ctx context.Context, opts Options) error {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	cfg, err := LoadConfig(opts)
	if err != nil {
		return err
	}
	a, err := Start(cfg, opts)
	if err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	reload := make(chan struct{}, 1)
	done := make(chan struct{})
	defer close(done)
	go a.watchSignals(sigs, stop, reload, done)
	for {
		select {
		case <-ctx.Done():
			a.stopping.Store(true)
			a.logger.Info("stopping")
			a.Stop()
			return nil
		case <-reload:
			if !a.stopping.Load() {
				a.Reload()
			}
		case sig := <-stop:
			a.logger.Info("stopping", "signal", sig.String(), "shutdown_timeout", a.cfg.ShutdownTimeout)
			a.Stop()
			return nil
		}
	}
}

// signalCoalesce is how close together two stop signals are taken as one:
// timeout(1) and a terminal's Ctrl-C signal the whole process group, so
// drover can get the same signal twice in the same instant.
const signalCoalesce = 500 * time.Millisecond

// terminations decides what a stop signal means: the first asks for a
// clean stop, one that follows within signalCoalesce is the same request,
// a later one asks to exit at once.
type terminations struct{ first time.Time }

// note records a stop signal at now and returns whether it is the first
// and whether it asks to exit at once.
func (t *terminations) note(now time.Time) (first, force bool) {
	if t.first.IsZero() {
		t.first = now
		return true, false
	}
	return false, now.Sub(t.first) >= signalCoalesce
}

// watchSignals turns signals into requests for the main loop. A stop
// signal makes drover not ready at once, before the main loop (which may
// be busy with a reload) begins the drain.
func (a *Agent) watchSignals(sigs <-chan os.Signal, stop chan<- os.Signal, reload chan<- struct{}, done <-chan struct{}) {
	var t terminations
	for {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		if sig == syscall.SIGHUP {
			select {
			case reload <- struct{}{}:
			default: // a reload is already pending; it reads the newest file
			}
			continue
		}
		first, force := t.note(time.Now())
		switch {
		case first:
			a.stopping.Store(true)
			stop <- sig
		case force:
			// What was not acknowledged is read again on the next start.
			slog.Default().Warn("second signal: exiting without waiting for delivery", "signal", sig.String())
			os.Exit(1)
		default:
			slog.Default().Debug("the same stop signal again in the same instant; taken as one", "signal", sig.String())
		}
	}
}

// newLogger returns drover's logger for cfg: its format and level, with
// every secret drover knows redacted (see internal/secret).
func (a *Agent) newLogger(cfg *config.Config) *slog.Logger {
	a.level.Set(parseLevel(cfg.Log.Level))
	hopts := &slog.HandlerOptions{Level: a.level}
	var h slog.Handler = slog.NewTextHandler(a.opts.LogOutput, hopts)
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(a.opts.LogOutput, hopts)
	}
	r := a.redactor(cfg)
	if a.redact != nil {
		// Components built before a change of format keep the old handler.
		a.redact.SetRedactor(r)
	}
	a.redact = secret.NewHandler(h, r)
	return slog.New(a.redact)
}

// redactor returns the Redactor of every secret drover has held since it
// started: cfg's, those of earlier configurations (a component replaced by
// a reload may still log while it drains), and the Nomad token and HTTP
// credentials of the environment.
func (a *Agent) redactor(cfg *config.Config) *secret.Redactor {
	for _, v := range cfg.Secrets {
		a.secrets.Add(v)
	}
	for _, name := range []string{"NOMAD_TOKEN", "NOMAD_HTTP_AUTH"} {
		if v := os.Getenv(name); v != "" {
			a.secrets.Add(v)
			if _, pass, ok := strings.Cut(v, ":"); ok {
				a.secrets.Add(pass)
			}
		}
	}
	return secret.NewRedactor(a.secrets.Values()...)
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
	a.logger = a.newLogger(cfg)
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
	a.metrics.SetFileSeriesLimit(cfg.Metrics.FileSeriesLimit)
	a.health = health.NewRegistry(nil)
	a.topo = topology.New(topology.Options{Metrics: a.metrics, Health: a.health, Logger: a.logger, Host: host})
	a.monitor = health.NewMonitor(health.MonitorConfig{
		Registry: a.health, Policy: cfg.Health.Policy(), Counts: a.eventCounts, Phase: a.phase,
	})
	a.metrics.Registerer().MustRegister(newHealthCollector(a.monitor.Status))
	a.status = a.newStatus(host)
	if cfg.Admin.Enabled {
		a.admin, err = admin.Start(a.adminOptions(cfg))
		if err != nil {
			lock.Close()
			return nil, err
		}
	}
	if err := a.topo.Start(cfg); err != nil {
		a.noteLoad(topology.Changes{}, err)
		a.closeAdmin()
		lock.Close()
		return nil, err
	}
	a.metrics.ConfigLoaded(false, true, time.Now())
	a.noteLoad(topology.Changes{Added: componentIDs(cfg)}, nil)
	mctx, cancel := context.WithCancel(context.Background())
	a.stopMonitor, a.monitorExited = cancel, make(chan struct{})
	go func() { defer close(a.monitorExited); a.monitor.Run(mctx) }()
	a.logger.Info("drover started", "config", cfg.Path, "data_dir", cfg.DataDir,
		"sources", len(cfg.Sources()), "transforms", len(cfg.Transforms()), "sinks", len(cfg.Sinks()))
	return a, nil
}

func (a *Agent) adminOptions(cfg *config.Config) admin.Options {
	return admin.Options{Config: cfg.Admin, Metrics: a.metrics, Status: a.monitor.Status, Logger: a.logger,
		Overview: a.status.Status, Tap: a.tap}
}

// phase says where the agent is in its life, for readiness.
func (a *Agent) phase() health.Phase {
	switch {
	case a.stopping.Load():
		return health.PhaseStopping
	case a.topo.Ready():
		return health.PhaseRunning
	}
	return health.PhaseStarting
}

// eventCounts feeds the readiness policy's discard rule.
func (a *Agent) eventCounts() []health.Counts {
	totals := a.metrics.EventTotals()
	out := make([]health.Counts, len(totals))
	for i, t := range totals {
		out[i] = health.Counts{Kind: t.Kind, Type: t.Type, ID: t.ID, Received: t.Received, Discarded: t.Discarded}
	}
	return out
}

// Status is drover's health now (what /api/v1/health serves).
func (a *Agent) Status() health.Status { return a.monitor.Status() }

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
		a.metrics.ConfigLoaded(true, false, time.Now())
		a.noteLoad(topology.Changes{}, err)
		a.logger.Error("reload: invalid configuration; keeping the running one", "error", err)
		return
	}
	if cfg.DataDir != a.cfg.DataDir {
		a.logger.Warn("reload: data_dir changes take effect after a restart; keeping the current one",
			"current", a.cfg.DataDir, "configured", cfg.DataDir)
		cfg.DataDir = a.cfg.DataDir
	}
	if cfg.Log.Format != a.cfg.Log.Format {
		a.logger = a.newLogger(cfg)
		slog.SetDefault(a.logger)
	} else {
		a.redact.SetRedactor(a.redactor(cfg))
	}
	a.level.Set(parseLevel(cfg.Log.Level))
	if !cfg.Admin.Equal(a.cfg.Admin) {
		a.closeAdmin()
		if cfg.Admin.Enabled {
			srv, err := admin.Start(a.adminOptions(cfg))
			if err != nil {
				a.logger.Error("reload: admin endpoint not restarted", "error", err)
			}
			a.admin = srv
		}
	}
	a.metrics.SetFileSeriesLimit(cfg.Metrics.FileSeriesLimit)
	changes, err := a.topo.Reload(cfg)
	a.noteLoad(changes, err)
	if err != nil {
		a.metrics.ConfigLoaded(true, false, time.Now())
		a.logger.Error("reload failed; keeping the running components", "error", err)
		return
	}
	a.metrics.ConfigLoaded(true, true, time.Now())
	a.cfg = cfg
	a.monitor.SetPolicy(cfg.Health.Policy())
	a.logger.Info("configuration reloaded", "added", changes.Added, "changed", changes.Changed,
		"removed", changes.Removed, "kept", changes.Kept)
}

// Stop shuts the pipeline down (see topology.Stop), then the admin endpoint.
func (a *Agent) Stop() {
	a.stopping.Store(true)
	a.topo.Stop()
	a.stopMonitor()
	<-a.monitorExited
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
