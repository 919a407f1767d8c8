package kuberneteslogs

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/discovery/kubernetes"
	"github.com/drover-dev/drover/internal/source/reading"
)

func TestRegisteredWithDefaults(t *testing.T) {
	reg, ok := component.Lookup(component.KindSource, "kubernetes_logs")
	if !ok {
		t.Fatal("kubernetes_logs source not registered")
	}
	cfg, ok := reg.NewConfig().(*Config)
	if !ok {
		t.Fatalf("NewConfig returns %T", reg.NewConfig())
	}
	if cfg.ReadFrom != "beginning" || cfg.FileScanInterval != time.Second || cfg.TerminalIdle != 2*time.Second ||
		cfg.PartialLineTimeout != 5*time.Second || cfg.MaxLineBytes != 256<<10 || cfg.MaxMergedLineBytes != 1<<20 ||
		cfg.CheckpointInterval != time.Second || cfg.CheckpointRetention != time.Hour || !cfg.UseFsnotify ||
		cfg.PodLogsDir != "/var/log/pods" || cfg.ScanInterval != kubernetes.DefaultScanInterval ||
		cfg.UnknownPodWait != kubernetes.DefaultUnknownPodWait || cfg.Compressed != "read" {
		t.Fatalf("defaults %+v", cfg)
	}
	cfg.NodeName = "n1"
	cfg.Kubeconfig = writeKubeconfig(t)
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
	t.Setenv(kubernetes.NodeNameEnv, "")
	cases := []struct {
		name, field string
		mod         func(c *Config)
	}{
		{"ok", "", func(c *Config) {}},
		{"read_from", "read_from", func(c *Config) { c.ReadFrom = "middle" }},
		{"max_line_bytes", "max_line_bytes", func(c *Config) { c.MaxLineBytes = 0 }},
		{"max_merged_line_bytes", "max_merged_line_bytes", func(c *Config) { c.MaxMergedLineBytes = 1 << 40 }},
		{"partial", "partial_line_timeout", func(c *Config) { c.PartialLineTimeout = 0 }},
		{"checkpoint_interval", "checkpoint_interval", func(c *Config) { c.CheckpointInterval = 0 }},
		{"checkpoint_retention", "checkpoint_retention", func(c *Config) { c.CheckpointRetention = 0 }},
		{"file_scan_interval", "file_scan_interval", func(c *Config) { c.FileScanInterval = time.Millisecond }},
		{"terminal_idle", "terminal_idle", func(c *Config) { c.TerminalIdle = -time.Second }},
		{"max_open_files", "max_open_files", func(c *Config) { c.MaxOpenFiles = -1 }},
		{"discovery: node_name", "node_name", func(c *Config) { c.NodeName = "" }},
		{"discovery: pod_logs_dir", "pod_logs_dir", func(c *Config) { c.PodLogsDir = "relative" }},
		{"discovery: selection", "exclude.pod_labels", func(c *Config) { c.Exclude.PodLabels = "a in (" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			c.NodeName = "n1"
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
node_name             = "worker-1"
pod_logs_dir          = "/var/log/pods"
annotations           = ["app.kubernetes.io/*"]
compressed            = "skip"
include { namespaces = ["apps-*"] }
exclude {
  namespaces = ["kube-system"]
  pod_labels = "tier=debug"
}
read_from             = "end"
max_line_bytes        = "512KiB"
max_merged_line_bytes = "4MiB"
partial_line_timeout  = "2s"
file_scan_interval    = "500ms"
use_fsnotify          = false
terminal_idle         = "5s"
max_open_files        = 2000
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
	if c.NodeName != "worker-1" || len(c.Annotations) != 1 || c.Compressed != "skip" || len(c.Include.Namespaces) != 1 ||
		c.Exclude.PodLabels != "tier=debug" || c.ReadFrom != "end" || c.MaxLineBytes != 512<<10 || c.MaxMergedLineBytes != 4<<20 ||
		c.PartialLineTimeout != 2*time.Second || c.FileScanInterval != 500*time.Millisecond || c.UseFsnotify ||
		c.TerminalIdle != 5*time.Second || c.MaxOpenFiles != 2000 {
		t.Fatalf("%+v", c)
	}
	if c.CheckpointInterval != reading.DefaultCheckpointInterval || c.UnknownPodWait != kubernetes.DefaultUnknownPodWait {
		t.Errorf("defaults not kept: %+v", c)
	}
	f, _ = hclsyntax.ParseConfig([]byte(`read_from = "middle"`), "bad.hcl", hcl.InitialPos)
	_, diags = config.DecodeBody(f.Body, nil, NewConfig(), false, "", nil)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "beginning") {
		t.Fatalf("enum not enforced: %v", diags)
	}
}

// writeKubeconfig writes a kubeconfig naming a server that is never
// asked (building the source does not contact the API).
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	path := t.TempDir() + "/kubeconfig"
	const kc = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
