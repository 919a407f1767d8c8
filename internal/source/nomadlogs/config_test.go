package nomadlogs

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/discovery/nomad"
)

func TestRegisteredWithDefaults(t *testing.T) {
	reg, ok := component.Lookup(component.KindSource, "nomad_logs")
	if !ok {
		t.Fatal("nomad_logs source not registered")
	}
	cfg, ok := reg.NewConfig().(*Config)
	if !ok {
		t.Fatalf("NewConfig returns %T", reg.NewConfig())
	}
	if cfg.ReadFrom != "beginning" || cfg.ScanInterval != time.Second || cfg.UnknownAllocWait != 10*time.Second ||
		cfg.TerminalIdle != 2*time.Second || cfg.PartialLineTimeout != 5*time.Second || cfg.MaxLineBytes != 256<<10 ||
		cfg.CheckpointInterval != time.Second || cfg.CheckpointRetention != time.Hour || !cfg.UseFsnotify ||
		cfg.BlockingWait != nomad.DefaultBlockingWait || cfg.ResyncInterval != nomad.DefaultResyncInterval {
		t.Fatalf("defaults %+v", cfg)
	}
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
		{"read_from", "read_from", func(c *Config) { c.ReadFrom = "middle" }},
		{"max_line_bytes", "max_line_bytes", func(c *Config) { c.MaxLineBytes = 0 }},
		{"partial", "partial_line_timeout", func(c *Config) { c.PartialLineTimeout = 0 }},
		{"checkpoint_interval", "checkpoint_interval", func(c *Config) { c.CheckpointInterval = 0 }},
		{"checkpoint_retention", "checkpoint_retention", func(c *Config) { c.CheckpointRetention = 0 }},
		{"unknown_alloc_wait", "unknown_alloc_wait", func(c *Config) { c.UnknownAllocWait = 0 }},
		{"scan_interval", "scan_interval", func(c *Config) { c.ScanInterval = time.Millisecond }},
		{"terminal_idle", "terminal_idle", func(c *Config) { c.TerminalIdle = -time.Second }},
		{"terminal_idle zero ok", "", func(c *Config) { c.TerminalIdle = 0 }},
		{"discovery: address", "nomad.address", func(c *Config) { c.Nomad.Address = "ftp://x" }},
		{"discovery: alloc_dir", "alloc_dir", func(c *Config) { c.AllocDir = "relative" }},
		{"discovery: selection", "exclude.tasks", func(c *Config) { c.Exclude.Tasks = []string{"[x"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
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
	// Several errors are all reported, each on its own.
	c := NewConfig()
	c.ReadFrom, c.ScanInterval = "x", 0
	j, ok := c.Validate().(interface{ Unwrap() []error })
	if !ok || len(j.Unwrap()) != 2 {
		t.Fatalf("joined errors: %v", c.Validate())
	}
}

func TestDecodeHCL(t *testing.T) {
	src := `
nomad {
  address = "https://127.0.0.1:4646"
  token   = "secret"
}
node_id              = "6f986d5f-16ad-4f62-e284-9cb5da6ee2da"
alloc_dir            = "/opt/nomad/data/alloc"
blocking_wait        = "1m"
resync_interval      = "10m"
include { namespaces = ["apps"] }
exclude { tasks = ["connect-proxy-*"] }
read_from            = "end"
max_line_bytes       = "1MiB"
partial_line_timeout = "2s"
checkpoint_interval  = "5s"
checkpoint_retention = "72h"
scan_interval        = "500ms"
use_fsnotify         = false
unknown_alloc_wait   = "30s"
terminal_idle        = "5s"
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
	if c.Nomad.Address != "https://127.0.0.1:4646" || c.Nomad.Token != "secret" || c.NodeID == "" ||
		c.AllocDir != "/opt/nomad/data/alloc" || c.BlockingWait != time.Minute || c.ResyncInterval != 10*time.Minute ||
		len(c.Include.Namespaces) != 1 || len(c.Exclude.Tasks) != 1 || c.ReadFrom != "end" || c.MaxLineBytes != 1<<20 ||
		c.PartialLineTimeout != 2*time.Second || c.CheckpointInterval != 5*time.Second ||
		c.CheckpointRetention != 72*time.Hour || c.ScanInterval != 500*time.Millisecond || c.UseFsnotify ||
		c.UnknownAllocWait != 30*time.Second || c.TerminalIdle != 5*time.Second {
		t.Fatalf("%+v", c)
	}
	// Attributes not set keep their defaults.
	if c.RetryMaxBackoff != nomad.DefaultRetryMaxBackoff {
		t.Errorf("retry_max_backoff = %v", c.RetryMaxBackoff)
	}

	f, _ = hclsyntax.ParseConfig([]byte(`read_from = "middle"`), "bad.hcl", hcl.InitialPos)
	_, diags = config.DecodeBody(f.Body, nil, NewConfig(), false, "", nil)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "beginning") {
		t.Fatalf("enum not enforced: %v", diags)
	}
}
