package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/nomadclient"
)

// checkSourceConfig holds what Check looks for: a nomad block and globs.
type checkSourceConfig struct {
	Include []string           `hcl:"include"`
	Nomad   nomadclient.Config `hcl:"nomad,block"`
	Fail    string             `hcl:"fail"`
}

func (*checkSourceConfig) Validate() error { return nil }

type checkSinkConfig struct {
	Health string `hcl:"health"`
}

func (*checkSinkConfig) Validate() error { return nil }

type checkedSink struct {
	drainSink
	health string
}

func (s checkedSink) Healthcheck(context.Context) error {
	if s.health != "" {
		return errors.New(s.health)
	}
	return nil
}

func init() {
	component.Register(component.Registration{
		Kind: component.KindSource, Type: "agent_check_source",
		NewConfig: func() component.Config { return &checkSourceConfig{} },
		BuildSource: func(_ component.Context, c component.Config) (component.Source, error) {
			if f := c.(*checkSourceConfig).Fail; f != "" {
				return nil, errors.New(f)
			}
			return idleSource{}, nil
		},
	})
	component.Register(component.Registration{
		Kind: component.KindSink, Type: "agent_check_sink",
		NewConfig: func() component.Config { return &checkSinkConfig{} },
		BuildSink: func(_ component.Context, c component.Config) (component.Sink, error) {
			return checkedSink{health: c.(*checkSinkConfig).Health}, nil
		},
	})
}

func loadCheck(t *testing.T, dataDir, src string) *config.Config {
	t.Helper()
	cfg, err := config.Load("drover.hcl", []byte(`data_dir = "`+dataDir+`"
admin { address = "127.0.0.1:0" }
`+src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func findings(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}

func TestCheckOfflineBuildsComponentsAndChecksDataDir(t *testing.T) {
	dir := t.TempDir()
	ok := `source "agent_check_source" "in" {}
sink "agent_check_sink" "out" {
  inputs = ["in"]
  health = "destination down"
}
`
	// Offline: the sink's health check is not run, and data_dir may be
	// created.
	if fs := Check(context.Background(), loadCheck(t, filepath.Join(dir, "new", "data"), ok), CheckOptions{}); len(fs) != 0 {
		t.Fatalf("offline findings:\n%s", findings(fs))
	}
	// A component that cannot be built.
	bad := strings.Replace(ok, `"in" {}`, `"in" { fail = "journalctl not found" }`, 1)
	fs := Check(context.Background(), loadCheck(t, dir, bad), CheckOptions{})
	if len(fs) != 1 || fs[0].Severity != SeverityError || fs[0].Subject != `source "in"` ||
		!strings.Contains(fs[0].Message, "cannot be built: journalctl not found") {
		t.Fatalf("build failure:\n%s", findings(fs))
	}
	// data_dir is a file, or below one.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	for _, dd := range []string{file, filepath.Join(file, "data")} {
		fs := Check(context.Background(), loadCheck(t, dd, ok), CheckOptions{})
		if len(fs) != 1 || fs[0].Subject != "data_dir" || !strings.Contains(fs[0].Message, "is not a directory") {
			t.Errorf("data_dir %s:\n%s", dd, findings(fs))
		}
	}
	// Writable by everyone: a warning.
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o777)
	fs = Check(context.Background(), loadCheck(t, open, ok), CheckOptions{})
	if len(fs) != 1 || fs[0].Severity != SeverityWarning || !strings.Contains(fs[0].Message, "writable by every user") {
		t.Fatalf("world-writable data_dir:\n%s", findings(fs))
	}
}

func TestCheckConnects(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.Mkdir(logs, 0o755)
	os.WriteFile(filepath.Join(logs, "a.log"), nil, 0o644)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	src := `source "agent_check_source" "in" {
  include = ["` + logs + `/*.log", "` + logs + `/*.txt"]
  nomad {
    address = "http://127.0.0.1:1"
  }
}
sink "agent_check_sink" "out" {
  inputs = ["in"]
  health = "destination down"
}
`
	cfg := loadCheck(t, dir, src)
	cfg.Admin.Address = busy.Addr().String()
	got := findings(Check(context.Background(), cfg, CheckOptions{Connect: true}))
	for _, want := range []string{
		"warning: admin.address: cannot listen on " + busy.Addr().String(),
		`error: sink "out": health check failed: destination down`,
		`error: source "in": cannot reach the Nomad API at http://127.0.0.1:1`,
		`warning: source "in": include "` + logs + `/*.txt" matches no file now`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "*.log") {
		t.Errorf("a glob that matches was reported:\n%s", got)
	}
}

func TestCheckWarnsAboutAnOpenAdminEndpoint(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("0123456789abcdef0123"), 0o644)
	os.Chmod(tok, 0o644)
	base := `source "agent_check_source" "in" {}
sink "agent_check_sink" "out" { inputs = ["in"] }
`
	load := func(admin string) *config.Config {
		cfg, err := config.Load("drover.hcl", []byte(`data_dir = "`+dir+`"
admin {
`+admin+`
}
`+base), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	got := findings(Check(context.Background(), load(`address = "0.0.0.0:7688"`), CheckOptions{}))
	if !strings.Contains(got, "warning: admin.address: 0.0.0.0:7688 is reachable from other hosts and admin.token_file is not set") {
		t.Errorf("open endpoint: %s", got)
	}
	got = findings(Check(context.Background(), load(`address = "0.0.0.0:7688"
token_file = "`+tok+`"`), CheckOptions{}))
	if strings.Contains(got, "admin.address") || !strings.Contains(got, "warning: admin.token_file: "+tok+" is readable by every user") {
		t.Errorf("with a token: %s", got)
	}
	for _, addr := range []string{"127.0.0.1:7688", "[::1]:7688", "localhost:7688"} {
		if got := findings(Check(context.Background(), load(`address = "`+addr+`"`), CheckOptions{})); got != "" {
			t.Errorf("%s: %s", addr, got)
		}
	}
}
