package nomadlogs

import (
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/source/reading"
)

// Config is the configuration of a nomad_logs source:
//
//	source "nomad_logs" "tasks" {
//	  nomad { address = "http://127.0.0.1:4646" }
//	  exclude { tasks = ["connect-proxy-*"] }
//	}
//
// The discovery settings (the nomad block, node_id, alloc_dir,
// blocking_wait, resync_interval, retry_*_backoff, include, exclude) are
// nomad.Config's, at the top level of the block; the reading options
// shared with the other file-based sources (read_from, max_line_bytes,
// partial_line_timeout, checkpoint_*, use_fsnotify, max_open_files) are
// reading.Options'. read_from applies to the streams that exist when the
// source starts for the first time (no checkpoint at all); once a
// checkpoint exists, every stream without a position in it is read from
// its beginning. The checkpoint retention only needs to outlast an alloc
// dir that is briefly unreadable: allocation IDs are never reused.
// docs/components/source-nomad_logs.md documents every option.
type Config struct {
	nomad.Config
	reading.Options

	// ScanInterval is the period of the full scan of the alloc dir, the
	// safety net under fsnotify.
	ScanInterval time.Duration `hcl:"scan_interval"`
	// UnknownAllocWait is how long the log files of an allocation that
	// the Nomad API does not describe (not listed yet, or the API is
	// unreachable) wait for its metadata before they are shipped with the
	// metadata their path gives.
	UnknownAllocWait time.Duration `hcl:"unknown_alloc_wait"`
	// TerminalIdle is how long the last file of a stream that will not be
	// written any more (terminal or garbage-collected allocation, deleted
	// file) must stay unchanged at its end before the stream is released.
	TerminalIdle time.Duration `hcl:"terminal_idle"`
}

// Defaults of the options that are the source's own.
const (
	DefaultCheckpointRetention = time.Hour
	DefaultScanInterval        = time.Second
	DefaultUnknownAllocWait    = 10 * time.Second
	DefaultTerminalIdle        = 2 * time.Second
)

// NewConfig returns a Config holding the defaults.
func NewConfig() *Config {
	return &Config{
		Config:           nomad.DefaultConfig(),
		Options:          reading.Defaults(DefaultCheckpointRetention),
		ScanInterval:     DefaultScanInterval,
		UnknownAllocWait: DefaultUnknownAllocWait,
		TerminalIdle:     DefaultTerminalIdle,
	}
}

// Validate checks the configuration. Errors are *config.FieldError naming
// the attribute ("nomad.address", "include.tasks", "scan_interval"), joined
// when there are several.
func (c *Config) Validate() error {
	errs := append([]error{c.Config.Validate()}, c.Options.Validate()...)
	if c.UnknownAllocWait <= 0 {
		errs = append(errs, config.Errorf("unknown_alloc_wait", "must be positive"))
	}
	errs = append(errs, reading.ScanInterval("scan_interval", c.ScanInterval))
	if c.TerminalIdle < 0 {
		errs = append(errs, config.Errorf("terminal_idle", "must not be negative"))
	}
	return reading.Join(errs...)
}
