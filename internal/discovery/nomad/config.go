package nomad

import (
	"errors"
	"github.com/drover-dev/drover/internal/nomadclient"
	"path/filepath"
	"time"

	"github.com/drover-dev/drover/internal/config"
)

// Config is the discovery part of a nomad_logs source:
//
//	nomad { address = "https://127.0.0.1:4646" }
//	node_id         = ""      # default: the local agent's node
//	alloc_dir       = ""      # default: what the agent reports
//	resync_interval = "5m"
//	include { namespaces = ["apps"] }
//	exclude { tasks = ["connect-proxy-*"] }
//
// Empty NodeID and AllocDir are asked from the agent (GET /v1/agent/self,
// which needs agent:read). Setting both avoids that request, and lets the
// source find log files while the agent is down at start.
type Config struct {
	// Nomad is how to reach the Nomad HTTP API.
	Nomad ClientConfig `hcl:"nomad,block"`
	// NodeID is the client node whose allocations are watched; default
	// the node of the agent at Nomad.Address (stats.client.node_id).
	NodeID string `hcl:"node_id"`
	// AllocDir is the directory that holds one directory per allocation;
	// default the agent's client.alloc_dir, or <data_dir>/alloc.
	AllocDir string `hcl:"alloc_dir"`
	// BlockingWait is the longest a blocking query waits for a change
	// (Nomad caps it at 10m and adds up to 1/16 of jitter).
	BlockingWait time.Duration `hcl:"blocking_wait"`
	// ResyncInterval is the period of a full, non-blocking re-read of the
	// node's allocations, compared against the known state.
	ResyncInterval time.Duration `hcl:"resync_interval"`
	// RetryInitialBackoff is the first wait after a failed request; it
	// doubles, with jitter, up to RetryMaxBackoff.
	RetryInitialBackoff time.Duration `hcl:"retry_initial_backoff"`
	RetryMaxBackoff     time.Duration `hcl:"retry_max_backoff"`
	// Include and Exclude select the namespaces, jobs, groups and tasks
	// whose logs are shipped (see Selection).
	Include Selection `hcl:"include,block"`
	Exclude Selection `hcl:"exclude,block"`
}

// Defaults of Config.
const (
	DefaultBlockingWait        = 5 * time.Minute
	DefaultResyncInterval      = 5 * time.Minute
	DefaultRetryInitialBackoff = time.Second
	DefaultRetryMaxBackoff     = time.Minute

	// maxBlockingWait is Nomad's own cap on a blocking query's wait.
	maxBlockingWait = 10 * time.Minute
	// minResyncInterval keeps a typo from turning resyncs into a busy loop
	// of full list requests.
	minResyncInterval = time.Second
)

// DefaultConfig returns a Config with the defaults: every other field empty
// (resolved from the environment and the agent at run time).
func DefaultConfig() Config {
	return Config{
		BlockingWait:        DefaultBlockingWait,
		ResyncInterval:      DefaultResyncInterval,
		RetryInitialBackoff: DefaultRetryInitialBackoff,
		RetryMaxBackoff:     DefaultRetryMaxBackoff,
	}
}

// Validate checks the configuration. Errors are *config.FieldError with
// paths relative to the block that holds the discovery settings
// ("nomad.address", "include.jobs", "resync_interval"), joined with
// errors.Join when there are several.
func (c *Config) Validate() error {
	var errs []error
	errs = appendErrs(errs, config.Prefix("nomad", c.Nomad.Validate()))
	if c.AllocDir != "" && !filepath.IsAbs(c.AllocDir) {
		errs = append(errs, config.Errorf("alloc_dir", "must be an absolute path, got %q", c.AllocDir))
	}
	if c.BlockingWait <= 0 || c.BlockingWait > maxBlockingWait {
		errs = append(errs, config.Errorf("blocking_wait", "must be positive and at most %s, got %s", maxBlockingWait, c.BlockingWait))
	}
	if c.ResyncInterval < minResyncInterval {
		errs = append(errs, config.Errorf("resync_interval", "must be at least %s, got %s", minResyncInterval, c.ResyncInterval))
	}
	if c.RetryInitialBackoff <= 0 {
		errs = append(errs, config.Errorf("retry_initial_backoff", "must be positive"))
	}
	if c.RetryMaxBackoff < c.RetryInitialBackoff {
		errs = append(errs, config.Errorf("retry_max_backoff", "must be at least retry_initial_backoff (%s), got %s", c.RetryInitialBackoff, c.RetryMaxBackoff))
	}
	errs = appendErrs(errs, config.Prefix("include", c.Include.Validate()))
	errs = appendErrs(errs, config.Prefix("exclude", c.Exclude.Validate()))
	return errors.Join(errs...)
}

// ClientConfig is the `nomad` block shared by every Nomad-facing component
// (see internal/nomadclient).
type ClientConfig = nomadclient.Config

// appendErrs appends err to errs, flattening an errors.Join so that the
// loader sees every field error at the top level.
func appendErrs(errs []error, err error) []error {
	if err == nil {
		return errs
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			errs = appendErrs(errs, e)
		}
		return errs
	}
	return append(errs, err)
}
