package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/sink/loki/lokitest"
)

// fileToLoki is a configuration that tails include into Loki as snappy
// protobuf: labels and tenant from templates, the file as structured
// metadata, the whole event as a JSON line.
func fileToLoki(dataDir, include, endpoint string) string {
	return fmt.Sprintf(`
data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }
log { level = "debug" }

source "file" "logs" {
  include = [%q]
}

sink "loki" "loki" {
  inputs = ["logs"]
  endpoint = %q
  labels = {
    source = "{{ source_type }}"
    host   = "{{ host }}"
    team   = "{{ team }}"
    path   = "{{ file }}"
  }
  label_defaults      = { team = "none" }
  structured_metadata = { file = "{{ file }}" }
  tenant_id           = "tenant-{{ source_type }}"
  auth {
    strategy = "basic"
    user     = "12345"
    password = env("LOKI_PASSWORD")
  }
  batch {
    max_events = 300
    timeout    = "100ms"
  }
  request {
    retry_initial_backoff = "50ms"
    retry_max_backoff     = "500ms"
  }
  healthcheck { required = true }
}
`, dataDir, include, endpoint)
}

// TestLokiSink runs drover from a file source into a fake Loki that
// decodes the real push format: lines arrive once, grouped into streams
// with the templated labels and tenant, in order per stream; 503 and 429
// are retried; a push Loki answers 400 is sent again in halves until the
// refused line is alone, which is rejected with Loki's reason, and the
// valid entries Loki kept are stored once (Loki ignores exact duplicates);
// a restart resumes without duplicates.
func TestLokiSink(t *testing.T) {
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	srv := lokitest.New(t)
	srv.MultiTenant = true
	srv.OrderedWrites = true
	srv.MaxLineBytes = 2000
	srv.Start()
	var mu sync.Mutex
	faults := []int{503, 503, 429}
	var auth []string
	srv.SetFault(func(p *lokitest.Push) *lokitest.Reply {
		mu.Lock()
		defer mu.Unlock()
		auth = append(auth, p.Header.Get("Authorization"))
		if len(faults) == 0 {
			return nil
		}
		code := faults[0]
		faults = faults[1:]
		r := &lokitest.Reply{Status: code, Header: http.Header{}, Body: http.StatusText(code)}
		if code == 429 {
			r.Header.Set("Retry-After", "1")
		}
		return r
	})
	t.Setenv("LOKI_PASSWORD", "glc_secret")
	cfg := writeConfig(t, base, fileToLoki(filepath.Join(base, "data"), logDir+"/*.log", srv.URL()))

	d := startDrover(t, cfg)
	if !strings.Contains(d.stderr.String(), "high-cardinality field") || !strings.Contains(d.stderr.String(), "path=file") {
		t.Errorf("no warning about the file label:\n%s", tail(d.stderr.String(), 20))
	}
	a, b := filepath.Join(logDir, "a.log"), filepath.Join(logDir, "b.log")
	first := append(numbered("a", 0, 1500), numbered("b", 0, 1500)...)
	appendLines(t, a, numbered("a", 0, 1500)...)
	appendLines(t, b, numbered("b", 0, 1500)...)
	waitUntil(t, 60*time.Second, "the first lines to arrive", func() bool { return hasAllLines(srv, first) })

	// A line too long for this Loki: it answers 400 for the push and keeps
	// the valid entries; the halves find the long line.
	long := "too-long " + strings.Repeat("x", 3000)
	appendLines(t, a, "a-before-long", long, "a-after-long")
	waitUntil(t, 30*time.Second, "the push with the long line", func() bool {
		return d.metric("drover_component_discarded_events_total", `component_id="loki"`, `reason="line_too_long"`) == 1
	})
	appendLines(t, b, "b-last")
	waitUntil(t, 30*time.Second, "the last line", func() bool {
		return hasAllLines(srv, []string{"a-before-long", "a-after-long", "b-last"})
	})
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d after SIGTERM", code)
	}

	// A restart resumes after what was acknowledged.
	d = startDrover(t, cfg)
	appendLines(t, b, "b-after-restart")
	waitUntil(t, 30*time.Second, "the line written after the restart", func() bool {
		return hasAllLines(srv, []string{"b-after-restart"})
	})
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d after SIGTERM", code)
	}

	entries := srv.Entries()
	counts := map[string]int{}
	newest := map[string]time.Time{}
	host, _ := os.Hostname()
	for _, e := range entries {
		var line struct {
			Message string `json:"message"`
			File    string `json:"file"`
		}
		if err := json.Unmarshal([]byte(e.Line), &line); err != nil {
			t.Fatalf("line %q is not a JSON event: %v", e.Line, err)
		}
		counts[line.Message]++
		want := map[string]string{"source": "file", "host": host, "team": "none", "path": line.File}
		if fmt.Sprint(e.Labels) != fmt.Sprint(want) || e.Tenant != "tenant-file" || e.Metadata["file"] != line.File ||
			!strings.HasPrefix(line.Message, filepath.Base(line.File)[:1]) {
			t.Fatalf("entry %q: labels %v tenant %q metadata %v", line.Message, e.Labels, e.Tenant, e.Metadata)
		}
		if e.Time.Before(newest[e.Stream]) {
			t.Fatalf("entry %q arrived out of order in %s", line.Message, e.Stream)
		}
		newest[e.Stream] = e.Time
	}
	for _, m := range append(first, "a-before-long", "a-after-long", "b-last", "b-after-restart") {
		if counts[m] != 1 {
			t.Errorf("%q arrived %d times", m, counts[m])
		}
	}
	if counts[long] != 0 {
		t.Error("Loki stored the line it refused")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range auth {
		if h != "Basic MTIzNDU6Z2xjX3NlY3JldA==" {
			t.Fatalf("Authorization %q", h)
		}
	}
	var status []int
	for _, p := range srv.Pushes() {
		status = append(status, p.Status)
	}
	if fmt.Sprint(status[:3]) != "[503 503 429]" {
		t.Errorf("push statuses %v", status)
	}
	for _, p := range srv.Pushes() {
		if p.Status != http.StatusBadRequest {
			continue
		}
		withLong := false
		for _, st := range p.Streams {
			for _, e := range st.Entries {
				withLong = withLong || strings.Contains(e.Line, "too-long ")
			}
		}
		if !withLong {
			t.Errorf("a push without the long line was refused")
		}
	}
}

// hasAllLines reports whether Loki stored every message of want.
func hasAllLines(srv *lokitest.Server, want []string) bool {
	got := map[string]bool{}
	for _, e := range srv.Entries() {
		var line struct{ Message string }
		if json.Unmarshal([]byte(e.Line), &line) == nil {
			got[line.Message] = true
		}
	}
	for _, m := range want {
		if !got[m] {
			return false
		}
	}
	return true
}
