// Package reading holds the options of how the file-based sources
// (nomad_logs, kubernetes_logs, file) read their files with
// internal/follow: one block, embedded in each source's configuration, with
// its defaults, its validation and its documentation in one place. The
// attributes stay at the top level of the source's block (the config
// decoder flattens an embedded struct), so users write them as before.
package reading

import (
	"errors"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/follow"
)

// Where targets without a checkpoint start (read_from).
const (
	FromBeginning = "beginning"
	FromEnd       = "end"
)

// Defaults of the options. The checkpoint retention is the source's: see
// Defaults.
const (
	DefaultMaxLineBytes       = 256 << 10
	DefaultPartialLineTimeout = 5 * time.Second
	DefaultCheckpointInterval = time.Second

	// MaxMaxLineBytes bounds max_line_bytes (and the sources' other line
	// bounds): a held line costs up to this much memory per target.
	MaxMaxLineBytes = 64 << 20
	// MinScanInterval is the shortest scan or listing period a source
	// accepts: it keeps a typo ("1ms") from turning the scan into a busy
	// loop.
	MinScanInterval = 10 * time.Millisecond
)

// Options are the reading options of a file-based source. A target is
// what the source follows: a Nomad task's stream, a container, a file.
// docs/components/source-*.md document them per source.
type Options struct {
	// ReadFrom is where targets without a checkpoint start: "beginning"
	// or "end". Which targets it applies to is the source's (the targets
	// present at the first start, or at every start).
	ReadFrom string `hcl:"read_from" enum:"beginning,end"`
	// MaxLineBytes is the longest line read from a file; longer lines are
	// cut, flagged truncated, and their rest skipped.
	MaxLineBytes config.ByteSize `hcl:"max_line_bytes"`
	// PartialLineTimeout is how long an unfinished last line is held,
	// counted from its first byte, before it is sent flagged partial.
	PartialLineTimeout time.Duration `hcl:"partial_line_timeout"`
	// CheckpointInterval is how often changed read positions are saved
	// (and when the source stops).
	CheckpointInterval time.Duration `hcl:"checkpoint_interval"`
	// CheckpointRetention is how long the position of a target that is
	// gone is remembered.
	CheckpointRetention time.Duration `hcl:"checkpoint_retention"`
	// UseFsnotify watches the directories involved with inotify, so that
	// new files and new data are seen at once instead of at the next scan
	// or poll.
	UseFsnotify bool `hcl:"use_fsnotify"`
	// MaxOpenFiles bounds the files held open; idle targets at the end of
	// their newest file are closed and reopened by identity when it
	// changes (see tail.Budget). 0 is half the process's open-file limit
	// (tail.DefaultMaxOpenFiles).
	MaxOpenFiles int `hcl:"max_open_files"`
}

// Defaults returns the options' defaults, with the source's checkpoint
// retention.
func Defaults(checkpointRetention time.Duration) Options {
	return Options{
		ReadFrom:            FromBeginning,
		MaxLineBytes:        DefaultMaxLineBytes,
		PartialLineTimeout:  DefaultPartialLineTimeout,
		CheckpointInterval:  DefaultCheckpointInterval,
		CheckpointRetention: checkpointRetention,
		UseFsnotify:         true,
	}
}

// Validate checks the options. It returns one *config.FieldError per
// wrong attribute, named as the user writes it ("max_line_bytes").
func (o *Options) Validate() []error {
	var errs []error
	switch o.ReadFrom {
	case FromBeginning, FromEnd:
	default:
		errs = append(errs, config.Errorf("read_from", "must be %q or %q, got %q", FromBeginning, FromEnd, o.ReadFrom))
	}
	if err := LineBound("max_line_bytes", o.MaxLineBytes); err != nil {
		errs = append(errs, err)
	}
	for _, p := range []struct {
		name string
		v    time.Duration
	}{
		{"partial_line_timeout", o.PartialLineTimeout},
		{"checkpoint_interval", o.CheckpointInterval},
		{"checkpoint_retention", o.CheckpointRetention},
	} {
		if p.v <= 0 {
			errs = append(errs, config.Errorf(p.name, "must be positive"))
		}
	}
	if o.MaxOpenFiles < 0 {
		errs = append(errs, config.Errorf("max_open_files", "must not be negative (0 is half the process's open-file limit)"))
	}
	return errs
}

// LineBound checks a bound on the length of a line: between 1 byte and
// MaxMaxLineBytes.
func LineBound(name string, v config.ByteSize) error {
	if v < 1 || v > MaxMaxLineBytes {
		return config.Errorf(name, "must be between 1 and %s, got %s", config.ByteSize(MaxMaxLineBytes), v)
	}
	return nil
}

// ScanInterval checks a scan or listing period: at least MinScanInterval.
func ScanInterval(name string, v time.Duration) error {
	if v < MinScanInterval {
		return config.Errorf(name, "must be at least %s, got %s", MinScanInterval, v)
	}
	return nil
}

// Follow returns fo, the follower options the source sets (logger,
// store, scan interval, end idle...), with the ones these options set.
func (o *Options) Follow(fo follow.Options) follow.Options {
	fo.ReadFrom, fo.MaxLineBytes, fo.PartialLineTimeout = o.ReadFrom, int(o.MaxLineBytes), o.PartialLineTimeout
	fo.CheckpointInterval, fo.CheckpointRetention = o.CheckpointInterval, o.CheckpointRetention
	fo.UseFsnotify, fo.MaxOpenFiles = o.UseFsnotify, o.MaxOpenFiles
	return fo
}

// Join joins errors, unwrapping joined ones, so that the config loader
// sees every field error at the top level (and names each with its
// file:line). Nil errors are skipped; nil when none is left.
func Join(errs ...error) error {
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
