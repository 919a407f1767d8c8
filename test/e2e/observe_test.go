package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/nomadtest"
	"github.com/drover-dev/drover/internal/status"
)

// observed is a drover running a real pipeline for the tests of what an
// operator sees (the status page, top, tap, explain): the nomad_logs source
// over the fake Nomad API and an alloc dir, with a task excluded by a rule
// and one by a hint; a file source over a directory, with a file excluded
// by a pattern; a filter; an http sink
// whose destination refuses everything until the test lets it take events.
type observed struct {
	d         *drover
	nomad     *nomadtest.Server
	recv      *receiver
	base      string
	tokenFile string
	token     string
	logDir    string // the file source's directory
	web       string // allocation of job web: tasks api and proxy-envoy
	quiet     string // allocation of job quiet: excluded by its job's hint
	api       *nomadtest.Logmon
}

// apiLines is how much the web/api stdout stream holds: more than the
// sink's buffer and the follower's queue take while the sink refuses, so
// that the stream stalls with bytes behind.
const apiLines = 40000

func startObserved(t *testing.T) *observed {
	t.Helper()
	o := &observed{base: t.TempDir(), nomad: nomadtest.New(t), recv: newReceiver(t), token: "s3cret-admin-token"}
	allocDir := filepath.Join(o.base, "alloc")
	agent := o.nomad.Agent()
	agent.DataDir, agent.AllocDir = o.base, allocDir
	o.nomad.SetAgent(agent)
	o.logDir = filepath.Join(o.base, "logs")
	if err := os.MkdirAll(o.logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	o.tokenFile = filepath.Join(o.base, "admin.token")
	if err := os.WriteFile(o.tokenFile, []byte(o.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o.web = nomadtest.NewID()
	nomadtest.MakeAllocDir(t, allocDir, o.web, "api", "proxy-envoy")
	o.nomad.AddAlloc(nomadtest.Alloc{ID: o.web, Job: "web", Tasks: []nomadtest.Task{{Name: "api"}, {Name: "proxy-envoy"}}})
	o.quiet = nomadtest.NewID()
	nomadtest.MakeAllocDir(t, allocDir, o.quiet, "chatty")
	o.nomad.AddAlloc(nomadtest.Alloc{ID: o.quiet, Job: "quiet", JobMeta: map[string]string{"drover.exclude": "true"},
		Tasks: []nomadtest.Task{{Name: "chatty"}}})
	o.api = nomadtest.NewLogmon(t, nomadtest.LogsDir(allocDir, o.web), "api", "stdout", 64<<20, 2)
	appendLines(t, filepath.Join(o.logDir, "app.log"), "first line of app.log")
	appendLines(t, filepath.Join(o.logDir, "debug-1.log"), "a line of an excluded file")

	o.recv.setStatus(503)
	cfg := writeConfig(t, o.base, fmt.Sprintf(`
data_dir         = %q
shutdown_timeout = "5s"
admin {
  address         = "127.0.0.1:0"
  token_file      = %q
  unauthenticated = ["/health", "/ready", "/metrics"]
}

source "nomad_logs" "tasks" {
  nomad {
    address = %q
  }
  exclude {
    tasks = ["proxy-*"]
  }
  blocking_wait       = "2s"
  scan_interval       = "250ms"
  checkpoint_interval = "250ms"
}

source "file" "files" {
  include = [%q]
  exclude = [%q]
}

transform "filter" "keep" {
  inputs    = ["tasks", "files"]
  condition = "true"
}

sink "http" "out" {
  inputs   = ["keep"]
  uri      = %q
  encoding = "ndjson"
  buffer {
    max_events = 200
  }
  batch {
    max_events = 100
    timeout    = "100ms"
  }
  request {
    retry_initial_backoff = "50ms"
    retry_max_backoff     = "300ms"
  }
}
`, filepath.Join(o.base, "data"), o.tokenFile, o.nomad.URL(), filepath.Join(o.logDir, "*.log"), filepath.Join(o.logDir, "debug-*.log"), o.recv.url()))
	o.d = startDrover(t, cfg)
	o.api.Lines("api", 0, apiLines, 1000)
	return o
}

// status reads /api/v1/status with the token.
func (o *observed) status(t *testing.T) status.Status {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+o.d.admin+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+o.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/v1/status: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/status: %s", resp.Status)
	}
	var st status.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("decoding /api/v1/status: %v", err)
	}
	return st
}

// target returns the target whose labels hold every pair of kv.
func target(st status.Status, kv ...string) (status.Target, bool) {
	for _, t := range st.Targets {
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			ok = ok && t.Labels[kv[i]] == kv[i+1]
		}
		if ok {
			return t, true
		}
	}
	return status.Target{}, false
}

// waitStalled waits until the sink fails and the web/api stdout stream has
// bytes behind: what the tests then look at.
func (o *observed) waitStalled(t *testing.T) {
	t.Helper()
	waitUntil(t, 30*time.Second, "the sink failing and web/api stdout stalled", func() bool {
		st := o.status(t)
		api, ok := target(st, "task", "api", "stream", "stdout")
		var sink *status.Component
		for i := range st.Components {
			if st.Components[i].ID == "out" {
				sink = &st.Components[i]
			}
		}
		return ok && api.BytesBehind > 0 && sink != nil && sink.Sink != nil && sink.Sink.Retrying
	})
}

// TestStatusAPI checks /api/v1/status against the pipeline: the token is
// required, the graph, the targets of both sources with their states,
// the excluded tasks with the rule and the hint that exclude them, the
// excluded file with its pattern, a failing sink, then its recovery.
func TestStatusAPI(t *testing.T) {
	o := startObserved(t)
	if resp, err := http.Get("http://" + o.d.admin + "/api/v1/status"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/api/v1/status without the token: %v %v, want 401", resp.Status, err)
	}
	o.waitStalled(t)
	st := o.status(t)
	if len(st.Components) != 4 {
		t.Fatalf("components = %+v, want tasks, files, keep, out", st.Components)
	}
	proxy, ok := target(st, "task", "proxy-envoy", "stream", "stdout")
	if !ok || proxy.State != status.StateExcluded || proxy.Reason != `exclude.tasks "proxy-*"` {
		t.Errorf("proxy-envoy = %+v, want excluded by exclude.tasks", proxy)
	}
	quiet, ok := target(st, "alloc_id", o.quiet, "stream", "stderr")
	if !ok || quiet.State != status.StateExcluded || quiet.Reason != `meta drover.exclude = "true"` || quiet.Labels["job"] != "quiet" {
		t.Errorf("quiet = %+v, want excluded by the drover.exclude hint", quiet)
	}
	file, ok := target(st, "file", filepath.Join(o.logDir, "app.log"))
	if !ok || file.Component != "files" || file.State != status.StateFollowing || file.ReadOffset == 0 {
		t.Errorf("app.log = %+v", file)
	}
	debug, ok := target(st, "file", filepath.Join(o.logDir, "debug-1.log"))
	if rule := fmt.Sprintf("exclude %q", filepath.Join(o.logDir, "debug-*.log")); !ok || debug.Component != "files" ||
		debug.State != status.StateExcluded || debug.Reason != rule {
		t.Errorf("debug-1.log = %+v, want excluded by %s", debug, rule)
	}
	if len(st.Reloads) != 1 || !st.Reloads[0].OK {
		t.Errorf("reloads = %+v", st.Reloads)
	}
	o.recv.setStatus(0)
	waitUntil(t, 60*time.Second, "web/api stdout shipped", func() bool {
		api, ok := target(o.status(t), "task", "api", "stream", "stdout")
		return ok && api.Shipped()
	})
	if got := o.recv.received(); got < apiLines {
		t.Fatalf("receiver has %d lines, want at least %d", got, apiLines)
	}
}
