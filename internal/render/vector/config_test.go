package vector

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/config"
)

func noEnv(string) (string, bool) { return "", false }

func TestDefaultConfigNeedsOnlyOutDir(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "out_dir") {
		t.Fatalf("without out_dir: %v", err)
	}
	c.OutDir = "/etc/vector/drover.d"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Format != "toml" || c.FilePrefix != "drover_nomad_" || c.NamePrefix != "drover_nomad_" ||
		c.SourcePrefix != "drover_source_" || c.MaxLineBytes != 256<<10 || c.StoppedGrace != 5*time.Minute ||
		!c.Placeholder || c.BlockingWait != 5*time.Minute {
		t.Errorf("defaults: %+v", c)
	}
}

func fieldNames(err error) []string {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []string
	for _, e := range errs {
		var fe *config.FieldError
		if errors.As(e, &fe) {
			out = append(out, fe.Field)
		} else {
			out = append(out, "?"+e.Error())
		}
	}
	slices.Sort(out)
	return out
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.OutDir = "relative/dir"
	c.Format = "json"
	c.FilePrefix = "../x"
	c.NamePrefix = "drover_"
	c.SourcePrefix = "drover_source_" // starts with name_prefix: "drover_*" would read the sources
	c.MaxLineBytes = 0
	c.TemplatesDir = "templates"
	c.Nomad.Address = "ftp://x"
	c.Include.Tasks = []string{"[x"}
	got := fieldNames(c.Validate())
	want := []string{"file_prefix", "format", "include.tasks", "max_line_bytes", "nomad.address", "out_dir", "source_prefix", "templates_dir"}
	if !slices.Equal(got, want) {
		t.Errorf("fields = %v\nwant     %v", got, want)
	}
	c = DefaultConfig()
	c.OutDir = "/out"
	c.NamePrefix, c.SourcePrefix = "logs_", "logs_src_"
	if got := fieldNames(c.Validate()); !slices.Equal(got, []string{"source_prefix"}) {
		t.Errorf("overlapping prefixes: %v", got)
	}
	c.NamePrefix, c.SourcePrefix = "logs_", "tail_"
	if err := c.Validate(); err != nil {
		t.Errorf("disjoint prefixes: %v", err)
	}
}

func TestLoad(t *testing.T) {
	src := `
vector {
  out_dir        = "/etc/vector/drover.d"
  format         = "yaml"
  file_prefix    = "nomad_"
  name_prefix    = "nomad_logs_"
  source_prefix  = "nomad_files_"
  max_line_bytes = "1MiB"
  stopped_grace  = "90s"
  templates_dir  = env("TEMPLATES", "/etc/drover/vector")
  placeholder    = false

  nomad {
    address = "https://nomad.service:4646"
    token   = env("TOKEN")
  }
  node_id   = "6f986d5f-16ad-4f62-e284-9cb5da6ee2da"
  alloc_dir = "/opt/nomad/data/alloc"
  include { namespaces = ["apps", "web-*"] }
  exclude { tasks = ["connect-proxy-*"] }
}
`
	env := func(name string) (string, bool) {
		if name == "TOKEN" {
			return "s3cr3t", true
		}
		return "", false
	}
	c, err := Load("vector.hcl", []byte(src), env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.OutDir != "/etc/vector/drover.d" || c.Format != "yaml" || c.FilePrefix != "nomad_" ||
		c.NamePrefix != "nomad_logs_" || c.SourcePrefix != "nomad_files_" || c.MaxLineBytes != 1<<20 ||
		c.StoppedGrace != 90*time.Second || c.TemplatesDir != "/etc/drover/vector" || c.Placeholder {
		t.Errorf("vector options: %+v", c)
	}
	if c.Nomad.Address != "https://nomad.service:4646" || c.Nomad.Token != "s3cr3t" ||
		c.NodeID != "6f986d5f-16ad-4f62-e284-9cb5da6ee2da" || c.AllocDir != "/opt/nomad/data/alloc" ||
		!slices.Equal(c.Include.Namespaces, []string{"apps", "web-*"}) || !slices.Equal(c.Exclude.Tasks, []string{"connect-proxy-*"}) ||
		c.ResyncInterval != 5*time.Minute {
		t.Errorf("discovery options: %+v", c.Config)
	}
}

func TestLoadOverride(t *testing.T) {
	src := "vector {\n  out_dir = \"/from/file\"\n}\n"
	c, err := Load("v.hcl", []byte(src), noEnv, func(c *Config) { c.OutDir = "/from/flag" })
	if err != nil || c.OutDir != "/from/flag" {
		t.Fatalf("override: %v %q", err, c.OutDir)
	}
	// Without a file: defaults and the flags.
	c, err = LoadFile("", func(c *Config) { c.OutDir = "/from/flag" })
	if err != nil || c.OutDir != "/from/flag" || c.Format != "toml" {
		t.Fatalf("no file: %v %+v", err, c)
	}
	if _, err := LoadFile("", nil); err == nil || !strings.Contains(err.Error(), "out_dir") {
		t.Errorf("no file and no out_dir: %v", err)
	}
}

// TestLoadErrors checks that every error names the file, the line and the
// attribute at fault.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"syntax", "vector {\n  out_dir = \n}\n", []string{"v.hcl:2,"}},
		{"no block", "# nothing\n", []string{"v.hcl:1,1", "Missing vector block"}},
		{"unknown attribute", "vector {\n  out_dir = \"/x\"\n  outdir = \"/y\"\n}\n", []string{"v.hcl:3,", "outdir"}},
		{"unknown top-level block", "vector {\n  out_dir = \"/x\"\n}\nsource \"file\" \"x\" {}\n", []string{"v.hcl:4,", "source"}},
		{"enum", "vector {\n  out_dir = \"/x\"\n  format = \"json\"\n}\n", []string{"v.hcl:3,", `"toml", "yaml"`}},
		{"relative out_dir", "vector {\n  out_dir = \"x\"\n}\n", []string{"v.hcl:2,", "vector.out_dir", "absolute"}},
		{"missing out_dir", "vector {\n  format = \"yaml\"\n}\n", []string{"v.hcl:1,", "vector.out_dir"}},
		{"nested", "vector {\n  out_dir = \"/x\"\n  nomad {\n    address = \"ftp://x\"\n  }\n}\n", []string{"v.hcl:4,", "vector.nomad.address"}},
		{"prefixes", "vector {\n  out_dir = \"/x\"\n\n  source_prefix = \"drover_nomad_src_\"\n}\n", []string{"v.hcl:4,", "vector.source_prefix"}},
		{"env", "vector {\n  out_dir = env(\"NOPE\")\n}\n", []string{"v.hcl:2,", "NOPE is not set"}},
		{"two blocks", "vector {\n  out_dir = \"/x\"\n}\nvector {\n  out_dir = \"/y\"\n}\n", []string{"v.hcl:4,", "Duplicate"}},
	}
	for _, c := range cases {
		_, err := Load("v.hcl", []byte(c.src), noEnv, nil)
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: want a *config.Error, got %v", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.name, err, w)
			}
		}
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vector.hcl")
	if err := os.WriteFile(path, []byte("vector {\n  out_dir = \"/x\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadFile(path, nil); err != nil || c.OutDir != "/x" {
		t.Fatalf("%v %+v", err, c)
	}
	if _, err := LoadFile(path+".missing", nil); err == nil || !strings.Contains(err.Error(), "reading configuration") {
		t.Errorf("missing file: %v", err)
	}
}
