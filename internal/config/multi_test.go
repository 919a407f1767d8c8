package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/config"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSeveralFilesAndADirectoryAreMerged(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"10-globals.hcl": "data_dir = \"/tmp/merged\"\nadmin { address = \"127.0.0.1:0\" }\n",
		"20-source.hcl":  "source \"cfgtest_source\" \"app\" { include = [\"/x\"] }\n",
		"30-sink.hcl":    "sink \"cfgtest_sink\" \"out\" {\n  inputs = [\"app\"]\n  uri = \"http://x\"\n}\n",
		"notes.txt":      "not configuration",
	})
	cfg, err := config.LoadPaths([]string{dir}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/tmp/merged" || cfg.Admin.Address != "127.0.0.1:0" || len(cfg.Components) != 2 || len(cfg.Files) != 3 ||
		filepath.Base(cfg.Files[0]) != "10-globals.hcl" {
		t.Fatalf("merged: %+v", cfg)
	}
	// The same files named one by one.
	cfg, err = config.LoadPaths([]string{filepath.Join(dir, "30-sink.hcl"), filepath.Join(dir, "10-globals.hcl"),
		filepath.Join(dir, "20-source.hcl")}, env(nil))
	if err != nil || len(cfg.Components) != 2 || !strings.Contains(cfg.Path, "30-sink.hcl, ") {
		t.Fatalf("files: %v %+v", err, cfg)
	}
}

func TestMergedErrorsNameTheirFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.hcl": "data_dir = \"/tmp/a\"\nsource \"cfgtest_source\" \"app\" { include = [\"/x\"] }\n",
		"b.hcl": "\n\ndata_dir = \"/tmp/b\"\nsink \"cfgtest_sink\" \"out\" {\n  inputs = [\"app\"]\n  uri = \"ftp://x\"\n}\n",
		"c.hcl": "source \"cfgtest_source\" \"app\" { include = [\"/y\"] }\n",
		"d.hcl": "admin {\n  address = \"not-an-address\"\n}\n",
	})
	p := func(n string) string { return filepath.Join(dir, n) }
	for _, tc := range []struct {
		files []string
		want  []string
	}{
		{[]string{"a.hcl", "b.hcl"}, []string{p("b.hcl") + ":3,1: Duplicate argument"}},
		{[]string{"a.hcl", "c.hcl"}, []string{p("c.hcl") + ":1,25: Duplicate component name", p("a.hcl")}},
		{[]string{"c.hcl", "d.hcl"}, []string{p("d.hcl") + ":2,3: Invalid admin.address", "not-an-address"}},
	} {
		var paths []string
		for _, f := range tc.files {
			paths = append(paths, p(f))
		}
		_, err := config.LoadPaths(paths, env(nil))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v, want %q", tc.files, err, w)
			}
		}
	}
	if _, err := config.LoadPaths([]string{t.TempDir()}, env(nil)); err == nil || !strings.Contains(err.Error(), "no *.hcl file") {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := config.LoadPaths(nil, env(nil)); err == nil {
		t.Error("no file: no error")
	}
}

func TestAdminAddressAndEnvironmentDefaults(t *testing.T) {
	load := func(globals string, vars map[string]string) (*config.Config, error) {
		return config.Load("drover.hcl", []byte(globals+minimalTopology), env(vars))
	}
	for _, bad := range []string{"not-an-address", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", "bad host:80", ":"} {
		_, err := load("admin {\n  address = \""+bad+"\"\n}\n", nil)
		if err == nil || !strings.Contains(err.Error(), "drover.hcl:2,3: Invalid admin.address") {
			t.Errorf("address %q: %v", bad, err)
		}
	}
	for _, good := range []string{"127.0.0.1:0", ":7688", "[::1]:7688", "localhost:7688", "node-1.example.com:80", "0.0.0.0:7688"} {
		if _, err := load("admin {\n  address = \""+good+"\"\n}\n", nil); err != nil {
			t.Errorf("address %q: %v", good, err)
		}
	}
	// A disabled endpoint's address is not checked.
	if _, err := load("admin {\n  enabled = false\n  address = \"x\"\n}\n", nil); err != nil {
		t.Errorf("disabled admin: %v", err)
	}

	cfg, err := load("", nil)
	if err != nil || cfg.Admin.Address != "127.0.0.1:7688" || cfg.DataDir != "/var/lib/drover" {
		t.Fatalf("defaults: %v %+v", err, cfg)
	}
	vars := map[string]string{"DROVER_ADMIN_ADDRESS": "0.0.0.0:9000", "DROVER_DATA_DIR": "/srv/drover"}
	cfg, err = load("", vars)
	if err != nil || cfg.Admin.Address != "0.0.0.0:9000" || cfg.DataDir != "/srv/drover" {
		t.Fatalf("from the environment: %v %+v", err, cfg)
	}
	// The file wins over the environment.
	cfg, err = load("data_dir = \"/data\"\nadmin { address = \"127.0.0.1:1\" }\n", vars)
	if err != nil || cfg.Admin.Address != "127.0.0.1:1" || cfg.DataDir != "/data" {
		t.Fatalf("file over environment: %v %+v", err, cfg)
	}
	// A bad value from the environment names the variable.
	_, err = load("", map[string]string{"DROVER_ADMIN_ADDRESS": "nope"})
	if err == nil || !strings.Contains(err.Error(), `Invalid DROVER_ADMIN_ADDRESS; DROVER_ADMIN_ADDRESS="nope"`) {
		t.Fatalf("bad environment value: %v", err)
	}
}
