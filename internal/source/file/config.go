package file

import (
	"path/filepath"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/source/reading"
)

// Config is the configuration of a file source:
//
//	source "file" "app" {
//	  include = ["/var/log/app/**/*.log"]
//	  exclude = ["/var/log/app/**/debug-*.log"]
//	}
//
// The reading options shared with the other file-based sources
// (read_from, max_line_bytes, partial_line_timeout, checkpoint_*,
// use_fsnotify, max_open_files) are reading.Options', at the top level of
// the block. read_from applies to the files found by the first scan that
// have no checkpoint; files that appear later are read from the
// beginning. docs/components/source-file.md documents every option.
type Config struct {
	reading.Options

	// Include are the glob patterns of the files to read (doublestar
	// syntax: *, ?, [a-z], {a,b}, and ** for any number of directories).
	Include []string `hcl:"include"`
	// Exclude are glob patterns matched against the full path of every
	// included file; a match is not read.
	Exclude []string `hcl:"exclude"`
	// IgnoreOlder, when positive, leaves alone files without a checkpoint
	// whose modification time is older than this, until they change.
	IgnoreOlder time.Duration `hcl:"ignore_older"`
	// ScanInterval is the period of the full glob rescan.
	ScanInterval time.Duration `hcl:"scan_interval"`
	// RotateWait is how long a file that disappeared from its path (deleted
	// or renamed out of the patterns) is kept open after it was last read
	// to its end without growing.
	RotateWait time.Duration `hcl:"rotate_wait"`
}

// Defaults of the options that are the source's own.
const (
	DefaultScanInterval        = time.Second
	DefaultRotateWait          = 10 * time.Second
	DefaultCheckpointRetention = 24 * time.Hour
)

// NewConfig returns a Config holding the defaults.
func NewConfig() *Config {
	return &Config{
		Options:      reading.Defaults(DefaultCheckpointRetention),
		ScanInterval: DefaultScanInterval,
		RotateWait:   DefaultRotateWait,
	}
}

// Validate checks the configuration. Errors are *config.FieldError naming
// the attribute, joined when there are several.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Include) == 0 {
		errs = append(errs, config.Errorf("include", "at least one pattern is required"))
	}
	for i, p := range c.Include {
		if err := validatePattern(p); err != "" {
			errs = append(errs, config.Errorf("include", "pattern %d (%q): %s", i+1, p, err))
		}
	}
	for i, p := range c.Exclude {
		if err := validatePattern(p); err != "" {
			errs = append(errs, config.Errorf("exclude", "pattern %d (%q): %s", i+1, p, err))
		}
	}
	errs = append(errs, c.Options.Validate()...)
	if c.IgnoreOlder < 0 {
		errs = append(errs, config.Errorf("ignore_older", "must not be negative"))
	}
	errs = append(errs, reading.ScanInterval("scan_interval", c.ScanInterval))
	if c.RotateWait < 0 {
		errs = append(errs, config.Errorf("rotate_wait", "must not be negative"))
	}
	return reading.Join(errs...)
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
