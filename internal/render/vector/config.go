package vector

import (
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/discovery/nomad"
)

// Config is the `vector` block of the file that `drover vector render`
// and `drover vector watch` read:
//
//	vector {
//	  out_dir        = "/etc/vector/drover.d"
//	  format         = "toml"
//	  stopped_grace  = "5m"
//	  nomad { address = "http://127.0.0.1:4646" }
//	  exclude { tasks = ["connect-proxy-*"] }
//	}
//
// The discovery settings (the nomad block, node_id, alloc_dir,
// blocking_wait, resync_interval, retry_*_backoff, include, exclude) are
// nomad.Config's, the same attributes as in a nomad_logs source. The
// others say what is written where. docs/vector.md documents every option.
type Config struct {
	nomad.Config

	// OutDir is the directory the files are written to, the one Vector
	// loads with --config-dir and --watch-config. Required.
	OutDir string `hcl:"out_dir"`
	// Format is "toml" or "yaml": the syntax and extension of the files.
	Format string `hcl:"format" enum:"toml,yaml"`
	// FilePrefix starts the name of every file drover writes; only files
	// named <file_prefix><allocation ID>.<format> and
	// <file_prefix>placeholder.<format> are ever changed or removed.
	FilePrefix string `hcl:"file_prefix"`
	// NamePrefix starts the name of every remap transform: a sink reads
	// them all with inputs = ["<name_prefix>*"].
	NamePrefix string `hcl:"name_prefix"`
	// SourcePrefix starts the name of every file source. Neither prefix
	// may start with the other, so that "<name_prefix>*" matches no source.
	SourcePrefix string `hcl:"source_prefix"`
	// MaxLineBytes is the max_line_bytes of every file source: Vector
	// discards longer lines.
	MaxLineBytes config.ByteSize `hcl:"max_line_bytes"`
	// StoppedGrace is how long an allocation stays in the configuration
	// once it is terminal or garbage collected, so that Vector reads its
	// last lines (watch only).
	StoppedGrace time.Duration `hcl:"stopped_grace"`
	// TemplatesDir, when set, holds the Go templates that replace the
	// built-in ones: alloc.tmpl (required) and placeholder.tmpl.
	TemplatesDir string `hcl:"templates_dir"`
	// Placeholder writes a placeholder file, with a source that reads
	// nothing and a transform named <name_prefix>placeholder, while no
	// allocation has a file, so that inputs = ["<name_prefix>*"] always
	// matches a component.
	Placeholder bool `hcl:"placeholder"`
}

// Defaults of Config.
const (
	DefaultFormat       = FormatTOML
	DefaultFilePrefix   = "drover_nomad_"
	DefaultNamePrefix   = "drover_nomad_"
	DefaultSourcePrefix = "drover_source_"
	// DefaultMaxLineBytes is the nomad_logs source's default.
	DefaultMaxLineBytes = 256 << 10
	DefaultStoppedGrace = 5 * time.Minute

	maxMaxLineBytes = 64 << 20
)

// DefaultConfig returns a Config holding the defaults; OutDir is empty.
func DefaultConfig() Config {
	return Config{
		Config:       nomad.DefaultConfig(),
		Format:       DefaultFormat,
		FilePrefix:   DefaultFilePrefix,
		NamePrefix:   DefaultNamePrefix,
		SourcePrefix: DefaultSourcePrefix,
		MaxLineBytes: DefaultMaxLineBytes,
		StoppedGrace: DefaultStoppedGrace,
		Placeholder:  true,
	}
}

// SetDefaults fills c with the defaults; the configuration decoder calls
// it before decoding a `vector` block.
func (c *Config) SetDefaults() { *c = DefaultConfig() }

// Names returns the file and component names of the configuration.
func (c *Config) Names() Names {
	return Names{FilePrefix: c.FilePrefix, SourcePrefix: c.SourcePrefix, TransformPrefix: c.NamePrefix}
}

// Validate checks the configuration. Errors are *config.FieldError naming
// the attribute ("out_dir", "nomad.address"), joined when there are
// several.
func (c *Config) Validate() error {
	var errs []error
	if err := c.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.OutDir == "":
		errs = append(errs, config.Errorf("out_dir", "must be set (or given with --out)"))
	case !filepath.IsAbs(c.OutDir):
		errs = append(errs, config.Errorf("out_dir", "must be an absolute path, got %q", c.OutDir))
	}
	if c.Format != FormatTOML && c.Format != FormatYAML {
		errs = append(errs, config.Errorf("format", "must be %q or %q, got %q", FormatTOML, FormatYAML, c.Format))
	}
	for _, p := range []struct{ name, v string }{
		{"file_prefix", c.FilePrefix}, {"name_prefix", c.NamePrefix}, {"source_prefix", c.SourcePrefix},
	} {
		if !ValidPrefix(p.v) {
			errs = append(errs, config.Errorf(p.name, "must start with a letter and hold only ASCII letters, digits, '_' and '-', got %q", p.v))
		}
	}
	if ValidPrefix(c.NamePrefix) && ValidPrefix(c.SourcePrefix) &&
		(strings.HasPrefix(c.NamePrefix, c.SourcePrefix) || strings.HasPrefix(c.SourcePrefix, c.NamePrefix)) {
		errs = append(errs, config.Errorf("source_prefix", "%q and name_prefix %q: neither may start with the other, or \"%s*\" could match sources", c.SourcePrefix, c.NamePrefix, c.NamePrefix))
	}
	if c.MaxLineBytes < 1 || c.MaxLineBytes > maxMaxLineBytes {
		errs = append(errs, config.Errorf("max_line_bytes", "must be between 1 and %s, got %s", config.ByteSize(maxMaxLineBytes), c.MaxLineBytes))
	}
	if c.TemplatesDir != "" && !filepath.IsAbs(c.TemplatesDir) {
		errs = append(errs, config.Errorf("templates_dir", "must be an absolute path, got %q", c.TemplatesDir))
	}
	return flatten(errs)
}

// flatten joins errors, unwrapping joined ones so that every field error
// is at the top level.
func flatten(errs []error) error {
	var out []error
	for _, err := range errs {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			out = append(out, j.Unwrap()...)
			continue
		}
		out = append(out, err)
	}
	return errors.Join(out...)
}
