package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// nomadAgentEnv names the nomad binary the real-agent tests run.
const nomadAgentEnv = "DROVER_TEST_NOMAD_BIN"

// submit parses a job file on the agent, registers the job and returns its
// allocations' IDs once count of them reached status.
func submit(t *testing.T, a *nomadAgent, spec string, count int, status string) []string {
	t.Helper()
	c := a.client(t)
	job, err := c.Jobs().ParseHCL(spec, true)
	if err != nil {
		t.Fatalf("parsing job: %v\n%s", err, spec)
	}
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatalf("registering %s: %v", *job.ID, err)
	}
	return jobAllocs(t, a, *job.ID, *job.Namespace, count, status)
}

// jobAllocs waits until a job has count allocations in status and returns
// their IDs.
func jobAllocs(t *testing.T, a *nomadAgent, job, namespace string, count int, status string) []string {
	t.Helper()
	c := a.client(t)
	var ids []string
	waitUntil(t, 60*time.Second, fmt.Sprintf("%d %s allocations of %s", count, status, job), func() bool {
		allocs, _, err := c.Jobs().Allocations(job, false, &api.QueryOptions{Namespace: namespace})
		if err != nil {
			return false
		}
		ids = ids[:0]
		for _, al := range allocs {
			if al.ClientStatus == status {
				ids = append(ids, al.ID)
			}
		}
		return len(ids) == count
	})
	return ids
}

// Jobs of the real-agent test. The service writes run-numbered lines to
// stdout and stderr (about 3.7 MB each: logmon rotates them into files of
// 1 MB and purges beyond 3), then sleeps; `nomad alloc restart` runs it
// again in the same allocation.
const (
	agentLines = 30000
	svcJob     = `
job "logsvc" {
  type = "service"
  meta {
    team = "payments"
  }
  group "web" {
    meta {
      tier = "group"
    }
    task "api" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args = ["-c", <<-EOS
          run=$(cat "$NOMAD_ALLOC_DIR/run" 2>/dev/null || echo 0)
          run=$((run + 1))
          echo $run > "$NOMAD_ALLOC_DIR/run"
          i=1
          while [ $i -le %d ]; do
            printf 'svc-out-%%d-%%06d padding-padding-padding-padding-padding-padding-padding-padding-padding-padding\n' $run $i
            printf 'svc-err-%%d-%%06d padding-padding-padding-padding-padding-padding-padding-padding-padding-padding\n' $run $i >&2
            i=$((i + 1))
          done
          exec sleep 3600
        EOS
        ]
      }
      meta {
        tier = "task"
      }
      logs {
        max_files     = 3
        max_file_size = 1
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`
	batchJob = `
job "logbatch" {
  type = "batch"
  group "b" {
    task "report" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args = ["-c", "i=1; while [ $i -le 500 ]; do echo batch-$(printf %06d $i); i=$((i + 1)); done"]
      }
      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
`
	otherJob = `
job "other" {
  namespace = "second"
  type      = "service"
  group "o" {
    task "api-proxy" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args = ["-c", "i=1; while [ $i -le 200 ]; do echo other-$(printf %06d $i); i=$((i + 1)); done; exec sleep 3600"]
      }
      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
`
)

// TestNomadLogsRealAgent runs drover against a real Nomad dev agent: a
// service logging to stdout and stderr with logs { max_files = 3
// max_file_size = 1 }, a short batch job, and a job in a second namespace.
// Every line must arrive exactly once with its metadata, across
// `nomad alloc restart`, `nomad job stop` and `nomad system gc`.
func TestNomadLogsRealAgent(t *testing.T) {
	bin := os.Getenv(nomadAgentEnv)
	if bin == "" {
		t.Skip(nomadAgentEnv + " is not set: set it to a nomad binary (v1.6 or later) to run drover's nomad_logs source " +
			"against a real dev agent with raw_exec on loopback (see docs/testing.md)")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the real-agent test runs on Linux")
	}
	// A single-node agent with a data dir: a -dev agent keeps its
	// allocations in a temporary directory it does not report, so drover
	// would need alloc_dir; with a data dir it finds the alloc dir, like
	// the node id, by asking the agent, as in production.
	a := startNomadAgent(t, bin, false, false)
	c := a.client(t)
	if _, err := c.Namespaces().Register(&api.Namespace{Name: "second", Description: "drover test"}, nil); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	allocDir := filepath.Join(a.dir, "data", "alloc")

	base := t.TempDir()
	recv := newReceiver(t)
	cfg := writeConfig(t, base, strings.Replace(nomadLogsConfig(filepath.Join(base, "data"), a.addr, recv.url()),
		`terminal_idle       = "500ms"`, `terminal_idle       = "1s"`, 1))
	d := startDrover(t, cfg)

	svc := submit(t, a, fmt.Sprintf(svcJob, agentLines), 1, "running")[0]
	batch := submit(t, a, batchJob, 1, "complete")[0]
	other := submit(t, a, otherJob, 1, "running")[0]

	numbered := func(format string, from, to int) []string {
		out := make([]string, 0, to-from+1)
		for i := from; i <= to; i++ {
			out = append(out, fmt.Sprintf(format, i))
		}
		return out
	}
	pad := " padding-padding-padding-padding-padding-padding-padding-padding-padding-padding"
	type expect struct{ alloc, ns, job, group, task, stream, jobType string }
	want := map[string]expect{}
	add := func(lines []string, e expect) {
		for _, l := range lines {
			want[l] = e
		}
	}
	svcRun := func(run int) {
		add(numbered(fmt.Sprintf("svc-out-%d-%%06d", run)+pad, 1, agentLines), expect{svc, "default", "logsvc", "web", "api", "stdout", "service"})
		add(numbered(fmt.Sprintf("svc-err-%d-%%06d", run)+pad, 1, agentLines), expect{svc, "default", "logsvc", "web", "api", "stderr", "service"})
	}
	svcRun(1)
	add(numbered("batch-%06d", 1, 500), expect{batch, "default", "logbatch", "b", "report", "stdout", "batch"})
	add(numbered("other-%06d", 1, 200), expect{other, "second", "other", "o", "api-proxy", "stdout", "service"})
	wantAll := func(what string) {
		t.Helper()
		lines := make([]string, 0, len(want))
		for l := range want {
			lines = append(lines, l)
		}
		waitUntil(t, 120*time.Second, what, func() bool { return recv.hasAll(lines) })
	}
	wantAll("every line of the first run")

	// The same allocation, logmon and current file: run 2 appends.
	if err := c.Allocations().Restart(&api.Allocation{ID: svc, Namespace: "default", NodeID: nodeID(t, c)}, "", nil); err != nil {
		t.Fatalf("restarting the allocation: %v", err)
	}
	svcRun(2)
	wantAll("every line after nomad alloc restart")
	// logmon rotated both streams and purged their first files meanwhile.
	for _, stream := range []string{"stdout", "stderr"} {
		files, _ := filepath.Glob(filepath.Join(allocDir, svc, "alloc", "logs", "api."+stream+".*"))
		if len(files) != 3 || slices.Contains(files, filepath.Join(allocDir, svc, "alloc", "logs", "api."+stream+".0")) {
			t.Errorf("api.%s files left: %v, want the last three of a rotated and purged stream", stream, files)
		}
	}

	// Stopped and garbage-collected: every stream is released.
	if _, _, err := c.Jobs().Deregister("logsvc", false, nil); err != nil {
		t.Fatal(err)
	}
	jobAllocs(t, a, "logsvc", "default", 1, "complete")
	waitUntil(t, 30*time.Second, "the stopped allocation's streams to be released", func() bool {
		return d.metric("drover_nomad_streams", `state="finishing"`) == 0 &&
			d.metric("drover_nomad_streams", `state="reading"`) == 2 // other's stdout and stderr
	})
	if err := c.System().GarbageCollect(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "garbage collection", func() bool {
		_, err := os.Stat(filepath.Join(allocDir, svc))
		return os.IsNotExist(err)
	})
	waitUntil(t, 30*time.Second, "drover to hold only the running job's files", func() bool {
		return d.metric("drover_files_open") == 2
	})

	if v := d.metric("drover_component_errors_total", `component_type="nomad_logs"`); v != 0 {
		t.Errorf("drover_component_errors_total{component_type=\"nomad_logs\"} = %v", v)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}
	counts, records := recv.snapshot()
	for msg, n := range counts {
		if _, ok := want[msg]; !ok {
			t.Errorf("received a line that was never written: %q", msg)
		} else if n != 1 {
			t.Errorf("%q arrived %d times", msg, n)
		}
	}
	nodes, _, err := c.Nodes().List(nil)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	node := nodes[0]
	for _, rec := range records {
		e := want[rec.str("message")]
		meta, _ := rec["nomad"].(map[string]any)
		got := expect{rec.nomadField("alloc_id"), rec.nomadField("namespace"), rec.nomadField("job_name"),
			rec.nomadField("group_name"), rec.nomadField("task_name"), rec.str("stream"), rec.nomadField("job_type")}
		if got != e || rec.nomadField("node_id") != node.ID || rec.str("host") != node.Name {
			t.Fatalf("%q arrived with %+v (nomad %v), want %+v", rec.str("message"), got, meta, e)
		}
		if e.job == "logsvc" {
			m, _ := meta["meta"].(map[string]any)
			if m["team"] != "payments" || m["tier"] != "task" {
				t.Fatalf("%q has meta %v", rec.str("message"), m)
			}
		}
	}
	t.Logf("real agent: %d lines in 5 streams, each delivered once", len(records))

	// Leave nothing running for the agent's shutdown.
	if _, _, err := c.Jobs().Deregister("other", true, &api.WriteOptions{Namespace: "second"}); err != nil {
		t.Fatal(err)
	}
	jobAllocs(t, a, "other", "second", 1, "complete")
}

// nodeID returns the ID of the agent's only node.
func nodeID(t *testing.T, c *api.Client) string {
	t.Helper()
	nodes, _, err := c.Nodes().List(nil)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	return nodes[0].ID
}
