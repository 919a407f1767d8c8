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
}

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
