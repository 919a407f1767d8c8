package file

import (
	"strconv"
	"time"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/template"
)

// Config is the configuration of a `sink "file"` block.
type Config struct {
	// Path is a template of event fields naming the file each event is
	// appended to: "/var/log/drover/{{ nomad.job_name }}/{{ nomad.task_name }}.log".
	Path string `hcl:"path,required"`
	// Encoding is "json" (one JSON object per line, default) or "text"
	// (the message only).
	Encoding string `hcl:"encoding" enum:"json,text"`
	// IdleTimeout closes a file no event was written to for this long.
	IdleTimeout time.Duration `hcl:"idle_timeout"`
	// MaxOpenFiles bounds the files kept open; the least recently used is
	// closed to open another.
	MaxOpenFiles int `hcl:"max_open_files"`
	// FileMode is the octal permission of files drover creates, before the
	// process umask.
	FileMode string `hcl:"file_mode"`
	// DirMode is the octal permission of directories drover creates,
	// before the process umask.
	DirMode string `hcl:"dir_mode"`
	// Fsync flushes every written file to stable storage before the
	// events are acknowledged.
	Fsync bool `hcl:"fsync"`
	// Rotate, when present, rotates each file by size. Without it files
	// grow until something else rotates them (a moved file is reopened).
	Rotate *RotateConfig `hcl:"rotate,block"`
}

// RotateConfig is the `rotate` block: a file that would grow beyond
// MaxBytes is renamed to "<path>.1" (an older "<path>.1" to "<path>.2",
// and so on) and a new one started; the oldest beyond MaxFiles is deleted.
// A file holds whole lines: a line larger than MaxBytes gets a file of its
// own.
type RotateConfig struct {
	// MaxBytes is the size a file does not grow beyond;
	// DefaultRotateMaxBytes when 0.
	MaxBytes config.ByteSize `hcl:"max_bytes"`
	// MaxFiles is how many rotated files are kept beside the current one;
	// DefaultRotateMaxFiles when 0.
	MaxFiles int `hcl:"max_files"`
}

// limits returns the block's limits with the defaults applied.
func (r *RotateConfig) limits() (maxBytes int64, maxFiles int) {
	maxBytes, maxFiles = int64(r.MaxBytes), r.MaxFiles
	if maxBytes == 0 {
		maxBytes = int64(DefaultRotateMaxBytes)
	}
	if maxFiles == 0 {
		maxFiles = DefaultRotateMaxFiles
	}
	return maxBytes, maxFiles
}

// Defaults of the rotate block.
const (
	DefaultRotateMaxBytes = config.ByteSize(100 << 20)
	DefaultRotateMaxFiles = 5
	maxRotateFiles        = 1000
)

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{
		Encoding:     "json",
		IdleTimeout:  30 * time.Second,
		MaxOpenFiles: 256,
		FileMode:     "0644",
		DirMode:      "0755",
	}
}

// Validate checks the configuration; errors are *config.FieldError.
func (c *Config) Validate() error {
	if c.Path == "" {
		return config.Errorf("path", "must not be empty")
	}
	if _, err := template.Parse(c.Path); err != nil {
		return config.Errorf("path", "%v", err)
	}
	if _, err := codec.ParseEncoding(c.Encoding); err != nil {
		return config.Errorf("encoding", "must be \"json\" or \"text\", got %q", c.Encoding)
	}
	if c.IdleTimeout <= 0 {
		return config.Errorf("idle_timeout", "must be positive")
	}
	if c.MaxOpenFiles < 1 {
		return config.Errorf("max_open_files", "must be at least 1, got %d", c.MaxOpenFiles)
	}
	if _, err := parseMode(c.FileMode); err != nil {
		return config.Errorf("file_mode", "%v", err)
	}
	if _, err := parseMode(c.DirMode); err != nil {
		return config.Errorf("dir_mode", "%v", err)
	}
	if r := c.Rotate; r != nil {
		if r.MaxBytes < 0 {
			return config.Errorf("rotate.max_bytes", "must be positive, got %d", r.MaxBytes)
		}
		if r.MaxFiles < 0 || r.MaxFiles > maxRotateFiles {
			return config.Errorf("rotate.max_files", "must be between 1 and %d, got %d", maxRotateFiles, r.MaxFiles)
		}
	}
	return nil
}

// parseMode parses an octal permission such as "0640".
func parseMode(s string) (uint32, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, &modeError{s}
	}
	return uint32(m), nil
}

type modeError struct{ s string }

func (e *modeError) Error() string {
	return "must be an octal permission such as \"0644\", got " + strconv.Quote(e.s)
}
