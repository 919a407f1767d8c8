package pipelinetest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/drover-dev/drover/internal/plugins"
)

const pipelineHCL = `
source "nomad_logs" "tasks" {}

transform "multiline" "stacks" {
  inputs = ["tasks"]
  preset = "java"
}

transform "parse" "app" {
  inputs = ["stacks"]
  format = "json"
}

transform "filter" "no_dev_debug" {
  inputs    = ["app"]
  condition = "!(nomad.namespace == \"dev\" && level == \"debug\")"
}

transform "route" "by_level" {
  inputs = ["no_dev_debug"]
  route {
    name      = "errors"
    condition = "level == \"error\""
  }
}

sink "stdout" "out" {
  inputs = ["by_level.errors", "by_level._unmatched"]
}
`

func write(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "drover.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPassingAndFailingTests(t *testing.T) {
	path := write(t, pipelineHCL+`
test "dev debug dropped, errors routed" {
  input {
    insert_at = "app"
    messages  = ["{\"level\":\"debug\"}", "{\"level\":\"error\",\"msg\":\"x\"}", "{\"level\":\"info\"}"]
    meta      = { "nomad.namespace" = "dev" }
  }
  output {
    extract_from = "by_level.errors"
    condition    = "msg == \"x\""
    events       = 1
  }
  output {
    extract_from = "by_level._unmatched"
    messages     = ["{\"level\":\"info\"}"]
  }
}

test "stack traces are joined" {
  input {
    insert_at = "stacks"
    messages  = ["Exception in thread main java.lang.X: y", "\tat a.B(B.java:1)", "next"]
  }
  output {
    extract_from = "stacks"
    messages     = ["Exception in thread main java.lang.X: y\n\tat a.B(B.java:1)", "next"]
  }
}

test "a wrong expectation fails" {
  input {
    insert_at = "no_dev_debug"
    message   = "hello"
    fields    = { level = "debug" }
    meta      = { "nomad.namespace" = "prod" }
  }
  no_output_from = ["by_level._unmatched"]
}
`)
	var out, errOut bytes.Buffer
	code := Main([]string{path}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit code %d, want 1\n%s%s", code, out.String(), errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"ok   " + path + ": dev debug dropped, errors routed",
		"ok   " + path + ": stack traces are joined",
		"FAIL " + path + ":59: a wrong expectation fails",
		`by_level._unmatched: expected no events, got 1: {"timestamp":"2026-01-01T00:00:00Z","message":"hello","level":"debug"`,
		"tests: 2 passed, 1 failed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestUnknownOutputIsReported(t *testing.T) {
	path := write(t, pipelineHCL+`
test "typo" {
  input {
    insert_at = "ap"
    message   = "x"
  }
  output {
    extract_from = "by_level.eror"
    events       = 0
  }
}
`)
	var out bytes.Buffer
	if code := Main([]string{path}, &out, &out); code != 1 || !strings.Contains(out.String(), `"ap" is not an output`) || !strings.Contains(out.String(), `"by_level.eror" is not an output`) {
		t.Fatalf("code %d\n%s", code, out.String())
	}
}

func TestFileWithoutTestsFails(t *testing.T) {
	var out bytes.Buffer
	if code := Main([]string{write(t, pipelineHCL)}, &out, &out); code != 1 || !strings.Contains(out.String(), "no test blocks") {
		t.Fatalf("code %d\n%s", code, out.String())
	}
}
