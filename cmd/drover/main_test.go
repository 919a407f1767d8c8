package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpOfEveryCommand(t *testing.T) {
	code, out, _ := runCLI(t, "help", "run")
	for _, want := range []string{"Usage: drover run", "-c, --config FILE|DIR", "Environment:", "DROVER_DATA_DIR",
		"DROVER_ADMIN_ADDRESS", "Signals:", "SIGHUP", "SIGTERM"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("help run: %d, no %q in\n%s", code, want, out)
		}
	}
	code, out, _ = runCLI(t, "help", "validate")
	if code != 0 || !strings.Contains(out, "--check") || !strings.Contains(out, "--timeout duration (default 10s)") || strings.Contains(out, "Signals:") {
		t.Errorf("help validate: %d\n%s", code, out)
	}
	for _, args := range [][]string{{"validate", "--help"}, {"run", "-h"}, {"help", "version"}, {"help", "default-config"}, {"help", "vector"}, {"help"}} {
		if code, out, _ := runCLI(t, args...); code != 0 || !strings.Contains(out, "drover") {
			t.Errorf("%v: %d %q", args, code, out)
		}
	}
	if code, _, errOut := runCLI(t, "help", "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("help of an unknown command: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "validate", "--bogus"); code != 2 || !strings.Contains(errOut, "flag provided but not defined: -bogus") ||
		!strings.Contains(errOut, "Usage: drover validate") {
		t.Errorf("unknown flag: %d %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "version", "extra"); code != 2 {
		t.Errorf("version with arguments: %d", code)
	}
}

func TestVersionPrintsEveryField(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "drover ") || !strings.HasPrefix(lines[1], "commit: ") ||
		!strings.HasPrefix(lines[2], "built: ") || !strings.HasPrefix(lines[3], "go: go1.") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestValidateTakesFilesDirectoriesAndFlagsInAnyOrder(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	globals := write("conf.d/00-globals.hcl", "data_dir = \""+data+"\"\nadmin { address = \"127.0.0.1:0\" }\n")
	source := write("conf.d/10-source.hcl", "source \"file\" \"app\" { include = [\""+dir+"/*.log\"] }\n")
	sink := write("sink.hcl", "sink \"stdout\" \"out\" { inputs = [\"app\"] }\n")
	for _, args := range [][]string{
		{"validate", filepath.Join(dir, "conf.d"), sink},
		{"validate", "-c", globals, "--config", source, sink},
		{"validate", sink, "--timeout", "1s", "-c", filepath.Join(dir, "conf.d")},
		{"validate", "--", sink, globals, source},
	} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, ": valid (1 sources, 0 transforms, 1 sinks)") {
			t.Errorf("%v: %d %q %q", args, code, out, errOut)
		}
	}
	// A part missing: the sink alone reads from nothing.
	if code, _, errOut := runCLI(t, "validate", sink); code != 1 || !strings.Contains(errOut, sink+":1,") {
		t.Errorf("sink alone: %d %q", code, errOut)
	}
	// What run would refuse: a bad admin address, a data_dir it cannot create.
	bad := write("bad.hcl", "admin { address = \"not-an-address\" }\n")
	if code, _, errOut := runCLI(t, "validate", bad, source, sink); code != 1 || !strings.Contains(errOut, bad+":1,9: Invalid admin.address") {
		t.Errorf("bad admin address: %d %q", code, errOut)
	}
	blocked := write("blocked", "")
	dd := write("dd.hcl", "data_dir = \""+blocked+"/data\"\n")
	if code, _, errOut := runCLI(t, "validate", dd, source, sink); code != 1 || !strings.Contains(errOut, "error: data_dir: "+blocked+"/data cannot be created") {
		t.Errorf("data_dir below a file: %d %q", code, errOut)
	}
	// --check: the glob matches nothing yet (a warning, exit 0).
	code, out, errOut := runCLI(t, "validate", "--check", globals, source, sink)
	if code != 0 || !strings.Contains(errOut, `warning: source "app": include "`+dir+`/*.log" matches no file now`) ||
		!strings.Contains(out, "valid, 1 warning(s)") {
		t.Errorf("--check: %d %q %q", code, out, errOut)
	}
}

func TestValidatePrintIsJSONWithoutSecrets(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "drover.hcl")
	os.WriteFile(p, []byte(`data_dir = "`+dir+`/data"
source "file" "app" { include = ["/var/log/*.log"] }
sink "http" "out" {
  inputs = ["app"]
  uri    = "https://user:pass-in-url-1@collector.example/ingest"
  auth {
    strategy = "bearer"
    token    = "bearer-token-2"
  }
}
`), 0o644)
	code, out, errOut := runCLI(t, "validate", "--print", p)
	var dump map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &dump) != nil || !strings.Contains(errOut, ": valid") {
		t.Fatalf("validate --print: %d %q %q", code, out, errOut)
	}
	if strings.Contains(out, "pass-in-url-1") || strings.Contains(out, "bearer-token-2") || !strings.Contains(out, `"token": "[redacted]"`) {
		t.Fatalf("the dump shows a secret:\n%s", out)
	}
}
