package kuberneteslogs

import (
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/discovery/kubernetes"
	"github.com/drover-dev/drover/internal/source/reading"
)

// Config is the configuration of a kubernetes_logs source:
//
//	source "kubernetes_logs" "pods" {
//	  exclude { namespaces = ["kube-system"] }
//	}
//
// The discovery settings (node_name, kubeconfig, pod_logs_dir,
// annotations, compressed, scan_interval, unknown_pod_wait, include,
// exclude) are kubernetes.Config's, at the top level of the block; the
// reading options shared with the other file-based sources (read_from,
// max_line_bytes, partial_line_timeout, checkpoint_*, use_fsnotify,
// max_open_files) are reading.Options'. read_from applies to the
// containers that exist when the source starts for the first time (no
// checkpoint at all); max_line_bytes bounds a record the runtime wrote
// (one CRI line or json-file line, before decoding), and
// partial_line_timeout is also how long the pieces of a split line wait
// for the piece that ends it. The others are about decoding the lines.
// docs/components/source-kubernetes_logs.md documents every option.
type Config struct {
	kubernetes.Config
	reading.Options

	// MaxMergedLineBytes bounds a line rejoined from the pieces the
	// runtime split (CRI "P" records, docker's 16 KiB pieces); the rest
	// of a longer line is dropped and the line marked truncated.
	MaxMergedLineBytes config.ByteSize `hcl:"max_merged_line_bytes"`
	// FileScanInterval is the period of the listing of each followed
	// container's directory, the safety net under fsnotify.
	FileScanInterval time.Duration `hcl:"file_scan_interval"`
	// TerminalIdle is how long the last file of a container that will not
	// be written any more (pod ended or deleted) must stay unchanged at its
	// end before it is released.
	TerminalIdle time.Duration `hcl:"terminal_idle"`
}

// Defaults of the options that are the source's own.
const (
	DefaultMaxMergedLineBytes  = 1 << 20
	DefaultCheckpointRetention = time.Hour
	DefaultFileScanInterval    = time.Second
	DefaultTerminalIdle        = 2 * time.Second
)

// NewConfig returns a Config holding the defaults.
func NewConfig() *Config {
	return &Config{
		Config:             kubernetes.DefaultConfig(),
		Options:            reading.Defaults(DefaultCheckpointRetention),
		MaxMergedLineBytes: DefaultMaxMergedLineBytes,
		FileScanInterval:   DefaultFileScanInterval,
		TerminalIdle:       DefaultTerminalIdle,
	}
}

// Validate checks the configuration (and fills node_name from NODE_NAME).
// Errors are *config.FieldError naming the attribute, joined when there
// are several.
func (c *Config) Validate() error {
	errs := append([]error{c.Config.Validate()}, c.Options.Validate()...)
	errs = append(errs, reading.LineBound("max_merged_line_bytes", c.MaxMergedLineBytes),
		reading.ScanInterval("file_scan_interval", c.FileScanInterval))
	if c.TerminalIdle < 0 {
		errs = append(errs, config.Errorf("terminal_idle", "must not be negative"))
	}
	return reading.Join(errs...)
}
