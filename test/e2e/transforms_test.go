package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// transformsConfig tails include through multiline (java), parse (json), a
// filter that drops debug lines and a route that splits errors from the
// rest, into two http sinks that post to the same receiver.
func transformsConfig(dataDir, include, uri, flushTimeout string) string {
	sink := func(name, input string) string {
		return fmt.Sprintf(`
sink "http" %q {
  inputs = [%q]
  uri    = %q
  batch {
    max_events = 100
    timeout    = "50ms"
  }
  request {
    retry_initial_backoff = "50ms"
    retry_max_backoff     = "500ms"
  }
}
`, name, input, uri)
	}
	return fmt.Sprintf(`
data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }

source "file" "logs" {
  include             = [%q]
  checkpoint_interval = "50ms"
}

transform "multiline" "stacks" {
  inputs        = ["logs"]
  preset        = "java"
  flush_timeout = %q
}

transform "parse" "json" {
  inputs = ["stacks"]
  format = "json"
}

transform "filter" "no_debug" {
  inputs    = ["json"]
  condition = "level != \"debug\""
}

transform "route" "by_level" {
  inputs = ["no_debug"]
  route {
    name      = "errors"
    condition = "level == \"error\""
  }
}
`, dataDir, include, flushTimeout) + sink("errors", "by_level.errors") + sink("rest", "by_level._unmatched")
}

func TestTransformsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	recv := newReceiver(t)
	d := startDrover(t, writeConfig(t, dir, transformsConfig(filepath.Join(dir, "data"), log, recv.url(), "200ms")))
	appendLines(t, log,
		`{"level":"info","msg":"started"}`,
		`{"level":"debug","msg":"noise"}`,
		`{"level":"error","msg":"db down"}`,
		`Exception in thread "main" java.lang.IllegalStateException: boom`,
		"\tat com.example.App.run(App.java:12)",
		"\tat com.example.App.main(App.java:5)",
		`{"level":"info","msg":"restarted"}`,
	)
	trace := "Exception in thread \"main\" java.lang.IllegalStateException: boom\n\tat com.example.App.run(App.java:12)\n\tat com.example.App.main(App.java:5)"
	want := []string{`{"level":"info","msg":"started"}`, `{"level":"error","msg":"db down"}`, trace, `{"level":"info","msg":"restarted"}`}
	waitUntil(t, 20*time.Second, "the events", func() bool { return recv.hasAll(want) })
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	counts, records := recv.snapshot()
	if len(records) != len(want) {
		t.Fatalf("received %d events, want %d: %v", len(records), len(want), counts)
	}
	for _, r := range records {
		switch msg := r.str("message"); msg {
		case want[1]:
			if r.str("level") != "error" || r.str("msg") != "db down" {
				t.Errorf("parsed fields missing: %v", r)
			}
		case trace:
			if !strings.HasPrefix(r.str("parse_error"), "invalid JSON") {
				t.Errorf("the stack trace should carry the parse error: %v", r)
			}
		}
	}
}

// TestMultilineKillMidRecord kills drover while a stack trace is half
// read: nothing of it may be delivered or acknowledged, and after the
// restart it arrives whole, once.
func TestMultilineKillMidRecord(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	recv := newReceiver(t)
	cfg := writeConfig(t, dir, transformsConfig(filepath.Join(dir, "data"), log, recv.url(), "1h"))
	d := startDrover(t, cfg)
	appendLines(t, log, `{"level":"info","msg":"before"}`, `Exception in thread "main" java.lang.RuntimeException: x`, "\tat a.B.c(B.java:1)")
	waitUntil(t, 20*time.Second, "the line before the trace", func() bool { return recv.hasAll([]string{`{"level":"info","msg":"before"}`}) })
	waitUntil(t, 20*time.Second, "the trace's lines read", func() bool {
		return d.metric("drover_component_received_events_total", `component_id="stacks"`) >= 3
	})
	// Let a checkpoint pass: it must not cover the held lines.
	time.Sleep(300 * time.Millisecond)
	d.kill()
	if n := recv.received(); n != 1 {
		t.Fatalf("received %d events before the kill, want only the line before the trace", n)
	}

	appendLines(t, log, "\tat a.B.d(B.java:2)", `{"level":"info","msg":"after"}`)
	d = startDrover(t, cfg)
	trace := "Exception in thread \"main\" java.lang.RuntimeException: x\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)"
	waitUntil(t, 20*time.Second, "the whole trace", func() bool { return recv.hasAll([]string{trace}) })
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	counts, _ := recv.snapshot()
	if counts[trace] != 1 || counts[`{"level":"info","msg":"after"}`] != 1 {
		t.Fatalf("after the restart: %v", counts)
	}
	for msg := range counts {
		if strings.HasPrefix(msg, "Exception") && msg != trace {
			t.Fatalf("a part of the trace was shipped: %q", msg)
		}
	}
}
