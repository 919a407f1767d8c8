package kuberneteslogs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/discovery/kubernetes"
	"github.com/drover-dev/drover/internal/follow"
	"github.com/drover-dev/drover/internal/metrics"
)

// Source is the kubernetes_logs source: the node's container logs
// (kubernetes.Discoverer: the API's pods and /var/log/pods), followed by
// internal/follow, their records decoded and split lines rejoined. Build
// it with New; see component.Source for the Run/Close contract and the
// package documentation for how it works.
type Source struct {
	cfg   *Config
	log   *slog.Logger
	m     *metrics.Component
	sm    *sourceMetrics
	disc  *kubernetes.Discoverer
	store *store
	f     *follow.Follower
}

// Options are what a test may set beside the configuration.
type Options struct {
	// Client talks to the API; nil builds one from the configuration
	// (kubeconfig, or the pod's service account).
	Client kubernetes.Client
}

// The pod discoverer follows the discovery contract.
var _ discovery.Discoverer = (*kubernetes.Discoverer)(nil)

// New builds a kubernetes_logs source. The configuration must be valid.
// It does not contact the API.
func New(ctx component.Context, cfg *Config) (*Source, error) {
	return NewWith(ctx, cfg, Options{})
}

// NewWith is New with Options.
func NewWith(ctx component.Context, cfg *Config, o Options) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if ctx.Logger == nil {
		ctx.Logger = slog.New(slog.DiscardHandler)
	}
	if ctx.Metrics == nil {
		ctx.Metrics = metrics.New().Component(string(component.KindSource), kubernetes.SourceType, ctx.ID)
	}
	if ctx.DataDir == "" {
		return nil, errors.New("kubernetes_logs source: the data directory is not set")
	}
	sm, err := newSourceMetrics(ctx.Metrics)
	if err != nil {
		return nil, fmt.Errorf("kubernetes_logs source: registering metrics: %w", err)
	}
	dm, err := kubernetes.NewMetrics(ctx.Metrics.Registerer(), string(component.KindSource), kubernetes.SourceType, ctx.ID)
	if err != nil {
		return nil, fmt.Errorf("kubernetes_logs source: registering discovery metrics: %w", err)
	}
	s := &Source{cfg: cfg, log: ctx.Logger, m: ctx.Metrics, sm: sm}
	s.disc, err = kubernetes.New(kubernetes.Options{
		Config: cfg.Config, SourceID: ctx.ID, Client: o.Client,
		Logger: s.log, Metrics: dm, Health: ctx.Health,
	})
	if err != nil {
		return nil, fmt.Errorf("kubernetes_logs source: %w", err)
	}
	s.store = &store{
		file: checkpoint.File{Path: checkpoint.PathFor(ctx.DataDir, kubernetes.SourceType, ctx.ID), Version: stateVersion},
		log:  s.log, errs: s.m.Errors("checkpoint"),
	}
	s.f, err = follow.New(cfg.Options.Follow(follow.Options{
		Logger: s.log, Metrics: s.m, Store: s.store, ScanInterval: cfg.FileScanInterval, EndIdle: cfg.TerminalIdle,
		Words: follow.Words{
			File: "container log file", Target: "container",
			PurgedAdvice: "(raise the kubelet's containerLogMaxSize or containerLogMaxFiles if drover falls this far behind)",
		},
		KeyAttrs: keyAttrs,
		OnStates: sm.setStates,
	}))
	if err != nil {
		return nil, fmt.Errorf("kubernetes_logs source: %w", err)
	}
	return s, nil
}

// CheckpointPath is where the source keeps its read positions.
func (s *Source) CheckpointPath() string { return s.f.CheckpointPath() }

// Run discovers and follows the node's container logs until ctx ends. It
// returns an error only when the checkpoint exists but cannot be read;
// the agent retries later. API failures never end it: files are found on
// disk and shipped with the metadata their path gives after
// unknown_pod_wait.
func (s *Source) Run(ctx context.Context, out component.Emitter) error {
	d := newDecoder(out, int(s.cfg.MaxMergedLineBytes), s.cfg.PartialLineTimeout, s.sm, s.log)
	dctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.run(dctx) }()
	err := s.f.Run(ctx, s.disc, d)
	stop()
	wg.Wait()
	d.failHeld()
	if err != nil {
		return fmt.Errorf("kubernetes_logs source: %w", err)
	}
	return nil
}

// Close waits until the emitted batches are acknowledged or ctx ends,
// saves the checkpoint, reports the unread data of deleted files and
// closes the files. Call it once, after Run returned.
func (s *Source) Close(ctx context.Context) error { return s.f.Close(ctx) }
