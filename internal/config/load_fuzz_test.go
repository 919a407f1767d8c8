package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/drover-dev/drover/internal/config"
	_ "github.com/drover-dev/drover/internal/plugins" // the real component types
)

// fuzzFile is the file name the fuzz target loads its input as.
const fuzzFile = "fuzz.hcl"

// loadSeeds are configurations the fuzzer starts from: valid ones of every
// kind of block, and near misses.
var loadSeeds = []string{
	"",
	"data_dir = \"/tmp/d\"\n",
	`
data_dir         = env("DATA", "/tmp/d")
shutdown_timeout = "5s"
log { level = "debug" }
admin { address = "127.0.0.1:0" }
source "file" "app" {
  include        = ["/var/log/app/*.log"]
  exclude        = ["/var/log/app/debug-*.log"]
  read_from      = "end"
  max_line_bytes = "64KiB"
}
sink "http" "out" {
  inputs   = ["app"]
  uri      = "http://127.0.0.1:9000/ingest"
  encoding = "ndjson"
  batch { max_events = 500
          timeout = "100ms" }
  request { retry_initial_backoff = "50ms" }
  buffer { type = "disk"
           max_size = "1GiB" }
}
`,
	`
source "nomad_logs" "tasks" {
  nomad { address = "http://127.0.0.1:4646" }
  exclude { tasks = ["connect-proxy-*"] }
  terminal_idle = "0s"
}
sink "stdout" "out" { inputs = ["tasks"] }
`,
	`
source "nomad_events" "ev" { topics = ["Allocation", "Job:*"] }
sink "loki" "l" {
  inputs   = ["ev"]
  endpoint = "http://127.0.0.1:3100"
  labels   = { job = "{{ nomad.job_name }}" }
}
sink "elasticsearch" "es" {
  inputs    = ["ev"]
  endpoints = ["http://127.0.0.1:9200"]
}
sink "clickhouse" "ch" {
  inputs   = ["ev"]
  endpoint = "http://127.0.0.1:8123"
  table    = "logs"
}
sink "file" "f" {
  inputs = ["ev"]
  path   = "/tmp/out.log"
}
`,
	"source \"file\" \"a\" {\n include = [\n}\n",
	"source \"file\" \"a\" { include = [\"/x\"] }\ntransform \"x\" \"t\" { inputs = [\"a\"] }\n",
	"source \"file\" \"a b\" {}\nsink \"http\" \"o\" { inputs = [\"a*\"]\n uri = \"ftp://x\" }\n",
	"sink \"http\" \"o\" {\n inputs = [\"o\"]\n uri = \"${env(\"X\")}\"\n buffer { max_events = -1 }\n}\n",
	"x = 1\n\"\\u0000\" {}\n",
}

// FuzzLoad loads arbitrary configuration text with every built-in
// component type registered. Load must never panic, and every error must
// be a *config.Error whose diagnostics each name the file and a line, as
// the operator reads them: "fuzz.hcl:3,5: ...".
func FuzzLoad(f *testing.F) {
	for _, s := range loadSeeds {
		f.Add([]byte(s))
	}
	lookup := func(name string) (string, bool) {
		if name == "SET" {
			return "value", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := config.Load(fuzzFile, src, lookup)
		if err == nil {
			if cfg == nil {
				t.Fatal("Load returned neither a configuration nor an error")
			}
			return
		}
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Fatalf("error is %T, want *config.Error: %v", err, err)
		}
		n := 0
		for _, d := range ce.Diags {
			if d.Severity != hcl.DiagError {
				continue
			}
			n++
			if d.Subject == nil || d.Subject.Filename != fuzzFile || d.Subject.Start.Line < 1 {
				t.Fatalf("diagnostic %q (%s) does not name %s and a line: subject %v", d.Summary, d.Detail, fuzzFile, d.Subject)
			}
		}
		if n == 0 {
			t.Fatalf("error without an error diagnostic: %v", err)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, fuzzFile+":") {
			t.Fatalf("error message does not start with the file and line: %q", msg)
		}
	})
}
