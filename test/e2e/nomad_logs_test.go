package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/nomadtest"
)

// nomadLogsConfig ships the task logs below the fake agent's alloc dir to
// the receiver, with short timings.
func nomadLogsConfig(dataDir, nomadAddr, uri string) string {
	return fmt.Sprintf(`
data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }
log { level = "debug" }

source "nomad_logs" "tasks" {
  nomad {
    address = %q
  }
  blocking_wait       = "2s"
  scan_interval       = "250ms"
  unknown_alloc_wait  = "3s"
  terminal_idle       = "500ms"
  checkpoint_interval = "250ms"
}

sink "http" "out" {
  inputs   = ["tasks"]
  uri      = %q
  encoding = "ndjson"
  buffer {
    max_events = 2000
  }
  batch {
    max_events = 500
    timeout    = "100ms"
  }
  request {
    retry_initial_backoff = "50ms"
    retry_max_backoff     = "500ms"
  }
}
`, dataDir, nomadAddr, uri)
}

// taskStream is one task stream written logmon-style, with the metadata
// its lines must arrive with.
type taskStream struct {
	prefix    string
	allocID   string
	namespace string
	job       string
	task      string
	stream    string
	lm        *nomadtest.Logmon
}

// writeFor writes numbered lines at about rate lines per second until stop
// is closed or total lines are written.
func (s *taskStream) writeFor(total, rate int, stop <-chan struct{}) {
	const chunk = 20
	interval := time.Duration(float64(time.Second) * chunk / float64(rate))
	for i := 0; i < total; i += chunk {
		select {
		case <-stop:
			return
		default:
		}
		s.lm.Lines(s.prefix, i, min(i+chunk, total), 0)
		time.Sleep(interval)
	}
}

// nomadField returns a field of a record's "nomad" object.
func (r record) nomadField(key string) string {
	m, _ := r["nomad"].(map[string]any)
	v, _ := m[key].(string)
	return v
}

// TestNomadLogs runs drover's nomad_logs source against the fake Nomad API
// and a temporary alloc dir: services in two namespaces writing and
// rotating (with purge) all along, tasks "api" and "api-proxy" side by
// side, a batch allocation that starts and completes between two answers
// of the API, an allocation garbage-collected while the sink refuses
// everything, and two SIGKILLs with restarts. Every line must arrive with
// the metadata of its stream; duplicates stay within what a crash can
// repeat.
func TestNomadLogs(t *testing.T) {
	base := t.TempDir()
	allocDir := filepath.Join(base, "alloc")
	srv := nomadtest.New(t)
	agent := srv.Agent()
	agent.DataDir, agent.AllocDir = base, allocDir
	srv.SetAgent(agent)
	recv := newReceiver(t)
	cfg := writeConfig(t, base, nomadLogsConfig(filepath.Join(base, "data"), srv.URL(), recv.url()))

	var streams []*taskStream
	addAlloc := func(a nomadtest.Alloc, register bool) string {
		a.ID = nomadtest.NewID()
		var names []string
		for _, task := range a.Tasks {
			names = append(names, task.Name)
		}
		nomadtest.MakeAllocDir(t, allocDir, a.ID, names...)
		if register {
			srv.AddAlloc(a)
		}
		return a.ID
	}
	newStream := func(prefix, id, ns, job, task, stream string, maxSize int64, maxFiles int) *taskStream {
		s := &taskStream{prefix: prefix, allocID: id, namespace: ns, job: job, task: task, stream: stream,
			lm: nomadtest.NewLogmon(t, nomadtest.LogsDir(allocDir, id), task, stream, maxSize, maxFiles)}
		streams = append(streams, s)
		return s
	}

	web := addAlloc(nomadtest.Alloc{Namespace: "default", Job: "web",
		Tasks: []nomadtest.Task{{Name: "api"}, {Name: "api-proxy", Lifecycle: "prestart", Sidecar: true}}}, true)
	worker := addAlloc(nomadtest.Alloc{Namespace: "apps", Job: "worker", Tasks: []nomadtest.Task{{Name: "app"}}}, true)
	const maxSize, maxFiles = 64 << 10, 4
	running := []*taskStream{
		newStream("web-api-out", web, "default", "web", "api", "stdout", maxSize, maxFiles),
		newStream("web-api-err", web, "default", "web", "api", "stderr", maxSize, maxFiles),
		newStream("web-proxy-out", web, "default", "web", "api-proxy", "stdout", maxSize, maxFiles),
		newStream("worker-out", worker, "apps", "worker", "app", "stdout", maxSize, maxFiles),
	}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for _, s := range running {
		writers.Add(1)
		go func() { defer writers.Done(); s.writeFor(12000, 1000, stop) }()
	}
	defer func() {
		close(stop)
		writers.Wait()
	}()

	d := startDrover(t, cfg)
	all := []*drover{d}
	kills := 0
	crash := func() {
		waitUntil(t, 20*time.Second, "lines to flow", func() bool { return recv.received() > 0 })
		d.kill()
		kills++
		time.Sleep(300 * time.Millisecond) // the writers go on, rotating
		d = startDrover(t, cfg)
		all = append(all, d)
	}
	time.Sleep(1500 * time.Millisecond)
	crash()

	// A batch allocation that starts, writes and completes before the API
	// has reported it: the API lists it only once it is complete.
	batch := addAlloc(nomadtest.Alloc{Namespace: "apps", Job: "report", JobType: "batch",
		ClientStatus: "complete", Tasks: []nomadtest.Task{{Name: "report"}}}, false)
	bs := newStream("batch-out", batch, "apps", "report", "report", "stdout", 8<<10, 0)
	bs.lm.Lines(bs.prefix, 0, 1000, 50)
	srv.AddAlloc(nomadtest.Alloc{ID: batch, Namespace: "apps", Job: "report", JobType: "batch",
		ClientStatus: "complete", Tasks: []nomadtest.Task{{Name: "report"}}})

	// An allocation garbage-collected while the sink refuses everything
	// and its logmon purges files drover has not read.
	recv.setStatus(503)
	gc := addAlloc(nomadtest.Alloc{Namespace: "default", Job: "cleanup", Tasks: []nomadtest.Task{{Name: "job"}}}, true)
	gs := newStream("cleanup-out", gc, "default", "cleanup", "job", "stdout", 16<<10, 2)
	waitUntil(t, 20*time.Second, "the sink to refuse", func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		return recv.refused >= 2
	})
	for i := 0; i < 8000; i += 200 {
		gs.lm.Lines(gs.prefix, i, i+200, 0)
		time.Sleep(5 * time.Millisecond)
	}
	srv.SetAllocStatus(gc, "complete", "stop")
	srv.RemoveAlloc(gc)
	if err := os.RemoveAll(filepath.Join(allocDir, gc)); err != nil {
		t.Fatal(err)
	}
	recv.setStatus(0)
	// Its files exist only as drover's open descriptors now: a crash
	// before they are read would lose them.
	waitUntil(t, 60*time.Second, "the garbage-collected allocation's lines", func() bool {
		return recv.hasAll(gs.lm.Written())
	})

	crash()
	writers.Wait()

	var want []string
	meta := map[string]*taskStream{}
	for _, s := range streams {
		for _, l := range s.lm.Written() {
			want = append(want, l)
			meta[l] = s
		}
	}
	deadline := time.Now().Add(120 * time.Second)
	for !recv.hasAll(want) {
		if time.Now().After(deadline) {
			counts, _ := recv.snapshot()
			for _, s := range streams {
				var missing []string
				for _, l := range s.lm.Written() {
					if counts[l] == 0 {
						missing = append(missing, l)
					}
				}
				if len(missing) > 0 {
					t.Errorf("%s: %d of %d lines missing, first %q, last %q", s.prefix, len(missing), len(s.lm.Written()), missing[0], missing[len(missing)-1])
				}
			}
			for _, p := range all {
				for _, line := range strings.Split(p.stderr.String(), "\n") {
					if strings.Contains(line, gc) {
						t.Log(line)
					}
				}
			}
			t.Fatalf("timed out waiting for every line")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v := d.metric("drover_component_errors_total", `stage="purged"`); v != 0 {
		t.Errorf("drover_component_errors_total{stage=\"purged\"} = %v", v)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d after SIGTERM", code)
	}

	counts, records := recv.snapshot()
	dups := 0
	for msg, n := range counts {
		if meta[msg] == nil {
			t.Errorf("received a line that was never written: %q", msg)
		}
		dups += n - 1
	}
	for _, rec := range records {
		msg := rec.str("message")
		s := meta[msg]
		if s == nil {
			continue
		}
		if rec.str("source_type") != "nomad_logs" || rec.str("stream") != s.stream ||
			rec.nomadField("alloc_id") != s.allocID || rec.nomadField("task_name") != s.task ||
			rec.nomadField("namespace") != s.namespace || rec.nomadField("job_name") != s.job ||
			rec.nomadField("node_id") != nomadtest.FixtureNodeID {
			t.Fatalf("line %q arrived with stream %q nomad %v", msg, rec.str("stream"), rec["nomad"])
		}
	}
	if v := gs.lm.Files(); len(v) != 0 {
		t.Fatalf("the garbage-collected allocation still has files %v", v)
	}
	// A SIGKILL repeats what was delivered after the last saved checkpoint
	// (checkpoint_interval, 250ms) and what was in flight (the sink's buffer
	// and batches, the source's queue): about 5 streams x 1000 lines/s x 1s
	// plus 2500, per kill.
	perKill := 5*1000 + 2500
	t.Logf("nomad_logs: %d lines written in %d streams, %d received, %d duplicates after %d SIGKILLs (bound %d)",
		len(want), len(streams), len(records), dups, kills, kills*perKill)
	if dups > kills*perKill {
		t.Errorf("%d duplicates exceed the bound %d", dups, kills*perKill)
	}
}
