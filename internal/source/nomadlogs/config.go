package nomadlogs

import (
	"errors"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/discovery/nomad"
)

// Read positions for streams without a checkpoint at the first start.
const (
	ReadFromBeginning = "beginning"
	ReadFromEnd       = "end"
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
// nomad.Config's, at the top level of the block. The others are about
// reading the files. docs/components/source-nomad_logs.md documents every
// option.
type Config struct {
	nomad.Config

	// ReadFrom is where streams start that exist when the source starts
	// for the first time (no checkpoint at all): "beginning" or "end".
	// Once a checkpoint exists, every stream without a position in it is
	// read from its beginning.
	ReadFrom string `hcl:"read_from" enum:"beginning,end"`
	// MaxLineBytes is the longest message; longer lines are truncated.
	MaxLineBytes config.ByteSize `hcl:"max_line_bytes"`
	// PartialLineTimeout is how long an unfinished last line is held,
	// counted from its first byte, before it is sent flagged partial.
	PartialLineTimeout time.Duration `hcl:"partial_line_timeout"`
	// CheckpointInterval is how often changed read positions are saved.
	CheckpointInterval time.Duration `hcl:"checkpoint_interval"`
	// CheckpointRetention is how long the position of a stream whose
	// allocation directory is gone is remembered. Allocation IDs are never
	// reused, so it only needs to outlast a directory that is briefly
	// unreadable; every remembered position is rewritten at each save.
	CheckpointRetention time.Duration `hcl:"checkpoint_retention"`
	// ScanInterval is the period of the full scan of the alloc dir, the
	// safety net under fsnotify.
	ScanInterval time.Duration `hcl:"scan_interval"`
	// UseFsnotify watches the alloc dir and the log directories, so that
	// new allocations, new files and new data are seen at once instead of
	// at the next scan or poll.
	UseFsnotify bool `hcl:"use_fsnotify"`
	// UnknownAllocWait is how long the log files of an allocation that
	// the Nomad API does not describe (not listed yet, or the API is
	// unreachable) wait for its metadata before they are shipped with the
	// metadata their path gives.
	UnknownAllocWait time.Duration `hcl:"unknown_alloc_wait"`
	// TerminalIdle is how long the last file of a stream that will not be
	// written any more (terminal or garbage-collected allocation, deleted
	// file) must stay unchanged at its end before the stream is released.
	TerminalIdle time.Duration `hcl:"terminal_idle"`
	// MaxOpenFiles bounds the files held open; idle streams at the end of
	// their newest file are closed and reopened by identity when it
	// changes (see tail.Budget). 0 is tail.DefaultMaxOpenFiles().
	MaxOpenFiles int `hcl:"max_open_files"`
}

// Defaults of the reading options.
const (
	DefaultMaxLineBytes        = 256 << 10
	DefaultPartialLineTimeout  = 5 * time.Second
	DefaultCheckpointInterval  = time.Second
	DefaultCheckpointRetention = time.Hour
	DefaultScanInterval        = time.Second
	DefaultUnknownAllocWait    = 10 * time.Second
	DefaultTerminalIdle        = 2 * time.Second

	// maxMaxLineBytes bounds max_line_bytes: a held line costs up to this
	// much memory per stream.
	maxMaxLineBytes = 64 << 20
	// minScanInterval keeps a typo ("1ms") from turning the scan into a
	// busy loop.
	minScanInterval = 10 * time.Millisecond
)

// NewConfig returns a Config holding the defaults.
func NewConfig() *Config {
	return &Config{
		Config:              nomad.DefaultConfig(),
		ReadFrom:            ReadFromBeginning,
		MaxLineBytes:        DefaultMaxLineBytes,
		PartialLineTimeout:  DefaultPartialLineTimeout,
		CheckpointInterval:  DefaultCheckpointInterval,
		CheckpointRetention: DefaultCheckpointRetention,
		ScanInterval:        DefaultScanInterval,
		UseFsnotify:         true,
		UnknownAllocWait:    DefaultUnknownAllocWait,
		TerminalIdle:        DefaultTerminalIdle,
	}
}

// Validate checks the configuration. Errors are *config.FieldError naming
// the attribute ("nomad.address", "include.tasks", "scan_interval"), joined
// when there are several.
func (c *Config) Validate() error {
	errs := []error{c.Config.Validate()}
	switch c.ReadFrom {
	case ReadFromBeginning, ReadFromEnd:
	default:
		errs = append(errs, config.Errorf("read_from", "must be %q or %q, got %q", ReadFromBeginning, ReadFromEnd, c.ReadFrom))
	}
	if c.MaxLineBytes < 1 || c.MaxLineBytes > maxMaxLineBytes {
		errs = append(errs, config.Errorf("max_line_bytes", "must be between 1 and %s, got %s", config.ByteSize(maxMaxLineBytes), c.MaxLineBytes))
	}
	positive := []struct {
		name string
		v    time.Duration
	}{
		{"partial_line_timeout", c.PartialLineTimeout},
		{"checkpoint_interval", c.CheckpointInterval},
		{"checkpoint_retention", c.CheckpointRetention},
		{"unknown_alloc_wait", c.UnknownAllocWait},
	}
	for _, p := range positive {
		if p.v <= 0 {
			errs = append(errs, config.Errorf(p.name, "must be positive"))
		}
	}
	if c.ScanInterval < minScanInterval {
		errs = append(errs, config.Errorf("scan_interval", "must be at least %s, got %s", minScanInterval, c.ScanInterval))
	}
	if c.TerminalIdle < 0 {
		errs = append(errs, config.Errorf("terminal_idle", "must not be negative"))
	}
	if c.MaxOpenFiles < 0 {
		errs = append(errs, config.Errorf("max_open_files", "must not be negative (0 is half the process's open-file limit)"))
	}
	return flatten(errs)
}

// flatten joins errors, unwrapping joined ones so that the loader sees
// every field error at the top level.
func flatten(errs []error) error {
	var out []error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			out = append(out, j.Unwrap()...)
			continue
		}
		out = append(out, err)
	}
	return errors.Join(out...)
}
