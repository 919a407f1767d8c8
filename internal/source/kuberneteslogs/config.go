package kuberneteslogs

import (
	"errors"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/discovery/kubernetes"
)

// Read positions for containers without a checkpoint at the first start.
const (
	ReadFromBeginning = "beginning"
	ReadFromEnd       = "end"
)

// Config is the configuration of a kubernetes_logs source:
//
//	source "kubernetes_logs" "pods" {
//	  exclude { namespaces = ["kube-system"] }
//	}
//
// The discovery settings (node_name, kubeconfig, pod_logs_dir,
// annotations, compressed, scan_interval, unknown_pod_wait, include,
// exclude) are kubernetes.Config's, at the top level of the block. The
// others are about reading the files and decoding their lines.
// docs/components/source-kubernetes_logs.md documents every option.
type Config struct {
	kubernetes.Config

	// ReadFrom is where containers start that exist when the source starts
	// for the first time (no checkpoint at all): "beginning" or "end".
	ReadFrom string `hcl:"read_from" enum:"beginning,end"`
	// MaxLineBytes is the longest record the runtime wrote (one CRI line
	// or json-file line, before decoding); longer ones are truncated.
	MaxLineBytes config.ByteSize `hcl:"max_line_bytes"`
	// MaxMergedLineBytes bounds a line rejoined from the pieces the
	// runtime split (CRI "P" records, docker's 16 KiB pieces); the rest
	// of a longer line is dropped and the line marked truncated.
	MaxMergedLineBytes config.ByteSize `hcl:"max_merged_line_bytes"`
	// PartialLineTimeout is how long the pieces of a split line wait for
	// the piece that ends it (and an unterminated last record for its
	// newline) before they are sent flagged partial.
	PartialLineTimeout time.Duration `hcl:"partial_line_timeout"`
	// CheckpointInterval is how often changed read positions are saved.
	CheckpointInterval time.Duration `hcl:"checkpoint_interval"`
	// CheckpointRetention is how long the position of a container whose
	// log directory is gone is remembered.
	CheckpointRetention time.Duration `hcl:"checkpoint_retention"`
	// FileScanInterval is the period of the listing of each followed
	// container's directory, the safety net under fsnotify.
	FileScanInterval time.Duration `hcl:"file_scan_interval"`
	// UseFsnotify watches the containers' directories, so that new files
	// and new data are seen at once.
	UseFsnotify bool `hcl:"use_fsnotify"`
	// TerminalIdle is how long the last file of a container that will not
	// be written any more (pod ended or deleted) must stay unchanged at its
	// end before it is released.
	TerminalIdle time.Duration `hcl:"terminal_idle"`
	// MaxOpenFiles bounds the files held open (see tail.Budget); 0 is
	// half the process's open-file limit.
	MaxOpenFiles int `hcl:"max_open_files"`
}

// Defaults of the reading options.
const (
	DefaultMaxLineBytes        = 256 << 10
	DefaultMaxMergedLineBytes  = 1 << 20
	DefaultPartialLineTimeout  = 5 * time.Second
	DefaultCheckpointInterval  = time.Second
	DefaultCheckpointRetention = time.Hour
	DefaultFileScanInterval    = time.Second
	DefaultTerminalIdle        = 2 * time.Second

	maxMaxLineBytes     = 64 << 20
	minFileScanInterval = 10 * time.Millisecond
)

// NewConfig returns a Config holding the defaults.
func NewConfig() *Config {
	return &Config{
		Config:              kubernetes.DefaultConfig(),
		ReadFrom:            ReadFromBeginning,
		MaxLineBytes:        DefaultMaxLineBytes,
		MaxMergedLineBytes:  DefaultMaxMergedLineBytes,
		PartialLineTimeout:  DefaultPartialLineTimeout,
		CheckpointInterval:  DefaultCheckpointInterval,
		CheckpointRetention: DefaultCheckpointRetention,
		FileScanInterval:    DefaultFileScanInterval,
		UseFsnotify:         true,
		TerminalIdle:        DefaultTerminalIdle,
	}
}

// Validate checks the configuration (and fills node_name from NODE_NAME).
// Errors are *config.FieldError naming the attribute, joined when there
// are several.
func (c *Config) Validate() error {
	errs := []error{c.Config.Validate()}
	switch c.ReadFrom {
	case ReadFromBeginning, ReadFromEnd:
	default:
		errs = append(errs, config.Errorf("read_from", "must be %q or %q, got %q", ReadFromBeginning, ReadFromEnd, c.ReadFrom))
	}
	for _, b := range []struct {
		name string
		v    config.ByteSize
	}{{"max_line_bytes", c.MaxLineBytes}, {"max_merged_line_bytes", c.MaxMergedLineBytes}} {
		if b.v < 1 || b.v > maxMaxLineBytes {
			errs = append(errs, config.Errorf(b.name, "must be between 1 and %s, got %s", config.ByteSize(maxMaxLineBytes), b.v))
		}
	}
	for _, p := range []struct {
		name string
		v    time.Duration
	}{
		{"partial_line_timeout", c.PartialLineTimeout},
		{"checkpoint_interval", c.CheckpointInterval},
		{"checkpoint_retention", c.CheckpointRetention},
	} {
		if p.v <= 0 {
			errs = append(errs, config.Errorf(p.name, "must be positive"))
		}
	}
	if c.FileScanInterval < minFileScanInterval {
		errs = append(errs, config.Errorf("file_scan_interval", "must be at least %s, got %s", minFileScanInterval, c.FileScanInterval))
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
