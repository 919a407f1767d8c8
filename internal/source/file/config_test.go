package file

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
)

func TestRegistered(t *testing.T) {
	reg, ok := component.Lookup(component.KindSource, "file")
	if !ok {
		t.Fatal("file source not registered")
	}
	cfg, ok := reg.NewConfig().(*Config)
	if !ok {
		t.Fatalf("NewConfig returns %T", reg.NewConfig())
	}
	if cfg.ReadFrom != "beginning" || cfg.ScanInterval != time.Second || cfg.RotateWait != 10*time.Second ||
		cfg.PartialLineTimeout != 5*time.Second || cfg.MaxLineBytes != 256<<10 ||
		cfg.CheckpointInterval != time.Second || cfg.CheckpointRetention != 24*time.Hour || !cfg.UseFsnotify {
		t.Fatalf("defaults %+v", cfg)
	}
	// Defaults without include are invalid; Build refuses them.
	if _, err := reg.BuildSource(component.Context{ID: "x", DataDir: t.TempDir()}, cfg); err == nil {
		t.Fatal("built without include")
	}
	cfg.Include = []string{"/var/log/*.log"}
	src, err := reg.BuildSource(component.Context{ID: "x", DataDir: t.TempDir()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*Source); !ok {
		t.Fatalf("%T", src)
	}
	if _, err := New(component.Context{ID: "x"}, cfg); err == nil {
		t.Fatal("built without a data directory")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name, field string
		mod         func(c *Config)
	}{
		{"ok", "", func(c *Config) {}},
		{"no include", "include", func(c *Config) { c.Include = nil }},
		{"empty pattern", "include", func(c *Config) { c.Include = []string{""} }},
		{"relative", "include", func(c *Config) { c.Include = []string{"logs/*.log"} }},
		{"bad glob", "include", func(c *Config) { c.Include = []string{"/var/log/[a.log"} }},
		{"bad brace", "include", func(c *Config) { c.Include = []string{"/var/log/{a,b.log"} }},
		{"bad exclude", "exclude", func(c *Config) { c.Exclude = []string{"/x/[z"} }},
		{"read_from", "read_from", func(c *Config) { c.ReadFrom = "middle" }},
		{"ignore_older", "ignore_older", func(c *Config) { c.IgnoreOlder = -1 }},
		{"max_open_files", "max_open_files", func(c *Config) { c.MaxOpenFiles = -1 }},
		{"max_open_files one", "", func(c *Config) { c.MaxOpenFiles = 1 }},
		{"scan_interval", "scan_interval", func(c *Config) { c.ScanInterval = time.Millisecond }},
		{"rotate_wait", "rotate_wait", func(c *Config) { c.RotateWait = -time.Second }},
		{"rotate_wait zero ok", "", func(c *Config) { c.RotateWait = 0 }},
		{"partial", "partial_line_timeout", func(c *Config) { c.PartialLineTimeout = 0 }},
		{"max_line_bytes", "max_line_bytes", func(c *Config) { c.MaxLineBytes = 0 }},
		{"max_line_bytes huge", "max_line_bytes", func(c *Config) { c.MaxLineBytes = 1 << 30 }},
		{"checkpoint_interval", "checkpoint_interval", func(c *Config) { c.CheckpointInterval = 0 }},
		{"checkpoint_retention", "checkpoint_retention", func(c *Config) { c.CheckpointRetention = 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			c.Include = []string{"/var/log/**/*.log"}
			tc.mod(c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
}

func TestDecodeHCL(t *testing.T) {
	src := `
include              = ["/var/log/app/**/*.log", "/srv/*.log"]
exclude              = ["/var/log/app/**/*.gz"]
read_from            = "end"
ignore_older         = "24h"
scan_interval        = "500ms"
use_fsnotify         = false
rotate_wait          = "30s"
partial_line_timeout = "2s"
max_line_bytes       = "1MiB"
checkpoint_interval  = "5s"
checkpoint_retention = "72h"
`
	f, diags := hclsyntax.ParseConfig([]byte(src), "test.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c := NewConfig()
	if _, diags := config.DecodeBody(f.Body, nil, c, false, "", nil); diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Include) != 2 || c.ReadFrom != "end" || c.IgnoreOlder != 24*time.Hour || c.UseFsnotify ||
		c.MaxLineBytes != 1<<20 || c.ScanInterval != 500*time.Millisecond || c.CheckpointRetention != 72*time.Hour {
		t.Fatalf("%+v", c)
	}

	f, _ = hclsyntax.ParseConfig([]byte(`read_from = "middle"`), "bad.hcl", hcl.InitialPos)
	_, diags = config.DecodeBody(f.Body, nil, NewConfig(), false, "", nil)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "beginning") {
		t.Fatalf("enum not enforced: %v", diags)
	}
}
