package file

import (
	"path/filepath"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/drover-dev/drover/internal/config"
)

// Read positions for files without a checkpoint.
const (
	ReadFromBeginning = "beginning"
	ReadFromEnd       = "end"
)

// Config is the configuration of a file source:
//
//	source "file" "app" {
//	  include = ["/var/log/app/**/*.log"]
//	  exclude = ["/var/log/app/**/debug-*.log"]
//	}
//
// docs/components/source-file.md documents every option.
type Config struct {
	// Include are the glob patterns of the files to read (doublestar
	// syntax: *, ?, [a-z], {a,b}, and ** for any number of directories).
	Include []string `hcl:"include"`
	// Exclude are glob patterns matched against the full path of every
	// included file; a match is not read.
	Exclude []string `hcl:"exclude"`
	// ReadFrom is where to start in files found by the first scan that have
	// no checkpoint. Files that appear later are read from the beginning.
	ReadFrom string `hcl:"read_from" enum:"beginning,end"`
	// IgnoreOlder, when positive, leaves alone files without a checkpoint
	// whose modification time is older than this, until they change.
	IgnoreOlder time.Duration `hcl:"ignore_older"`
	// ScanInterval is the period of the full glob rescan.
	ScanInterval time.Duration `hcl:"scan_interval"`
	// UseFsnotify watches the directories of the patterns for changes, so
	// that new files and new data are seen at once instead of at the next
	// scan or poll.
	UseFsnotify bool `hcl:"use_fsnotify"`
	// RotateWait is how long a file that disappeared from its path (deleted
	// or renamed out of the patterns) is kept open after it was last read
	// to its end without growing.
	RotateWait time.Duration `hcl:"rotate_wait"`
	// PartialLineTimeout is how long an unfinished last line is held,
	// counted from its first byte, before it is sent flagged partial.
	PartialLineTimeout time.Duration `hcl:"partial_line_timeout"`
	// MaxLineBytes is the longest message; longer lines are truncated.
	MaxLineBytes config.ByteSize `hcl:"max_line_bytes"`
	// CheckpointInterval is how often changed read positions are saved.
	CheckpointInterval time.Duration `hcl:"checkpoint_interval"`
	// CheckpointRetention is how long the position of a file that is gone
	// is remembered.
	CheckpointRetention time.Duration `hcl:"checkpoint_retention"`
	// MaxOpenFiles bounds the files held open; idle files at their end are
	// closed and reopened by identity when they change (see tail.Budget).
	// 0 is tail.DefaultMaxOpenFiles().
	MaxOpenFiles int `hcl:"max_open_files"`
}

// Defaults.
const (
	DefaultScanInterval        = time.Second
	DefaultRotateWait          = 10 * time.Second
	DefaultPartialLineTimeout  = 5 * time.Second
	DefaultMaxLineBytes        = 256 << 10
	DefaultCheckpointInterval  = time.Second
	DefaultCheckpointRetention = 24 * time.Hour

	// maxMaxLineBytes bounds max_line_bytes: a held line costs up to this
	// much memory per file.
	maxMaxLineBytes = 64 << 20
	// minScanInterval keeps a typo ("1ms") from turning the scan into a
	// busy loop.
	minScanInterval = 10 * time.Millisecond
)

// NewConfig returns a Config holding the defaults.
func NewConfig() *Config {
	return &Config{
		ReadFrom:            ReadFromBeginning,
		ScanInterval:        DefaultScanInterval,
		UseFsnotify:         true,
		RotateWait:          DefaultRotateWait,
		PartialLineTimeout:  DefaultPartialLineTimeout,
		MaxLineBytes:        DefaultMaxLineBytes,
		CheckpointInterval:  DefaultCheckpointInterval,
		CheckpointRetention: DefaultCheckpointRetention,
	}
}

// Validate checks the configuration; errors are *config.FieldError.
func (c *Config) Validate() error {
	if len(c.Include) == 0 {
		return config.Errorf("include", "at least one pattern is required")
	}
	for i, p := range c.Include {
		if err := validatePattern(p); err != "" {
			return config.Errorf("include", "pattern %d (%q): %s", i+1, p, err)
		}
	}
	for i, p := range c.Exclude {
		if err := validatePattern(p); err != "" {
			return config.Errorf("exclude", "pattern %d (%q): %s", i+1, p, err)
		}
	}
	switch c.ReadFrom {
	case ReadFromBeginning, ReadFromEnd:
	default:
		return config.Errorf("read_from", "must be %q or %q, got %q", ReadFromBeginning, ReadFromEnd, c.ReadFrom)
	}
	switch {
	case c.IgnoreOlder < 0:
		return config.Errorf("ignore_older", "must not be negative")
	case c.ScanInterval < minScanInterval:
		return config.Errorf("scan_interval", "must be at least %s", minScanInterval)
	case c.RotateWait < 0:
		return config.Errorf("rotate_wait", "must not be negative")
	case c.PartialLineTimeout <= 0:
		return config.Errorf("partial_line_timeout", "must be positive")
	case c.MaxLineBytes < 1 || c.MaxLineBytes > maxMaxLineBytes:
		return config.Errorf("max_line_bytes", "must be between 1 and %s, got %s", config.ByteSize(maxMaxLineBytes), c.MaxLineBytes)
	case c.CheckpointInterval <= 0:
		return config.Errorf("checkpoint_interval", "must be positive")
	case c.CheckpointRetention <= 0:
		return config.Errorf("checkpoint_retention", "must be positive")
	case c.MaxOpenFiles < 0:
		return config.Errorf("max_open_files", "must not be negative (0 is half the process's open-file limit)")
	}
	return nil
}

func validatePattern(p string) string {
	switch {
	case p == "":
		return "empty pattern"
	case !filepath.IsAbs(p):
		return "must be an absolute path"
	case !doublestar.ValidatePathPattern(p):
		return "invalid glob pattern (unbalanced [ or {, or a trailing \\)"
	}
	return ""
}
