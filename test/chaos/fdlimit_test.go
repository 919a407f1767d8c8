package chaos

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/nomadtest"
)

// TestDefaultBudgetUnderALowLimit runs the real binary with an open-file
// limit of 512 (prlimit) on a node with 2000 task streams (250
// allocations x 4 tasks x stdout, stderr), max_open_files left at its
// default (half the limit): every line arrives, those written before the
// start and those written later to streams whose file was parked, and
// drover never runs out of descriptors (no EMFILE, no open error, nothing
// opened beyond the budget).
func TestDefaultBudgetUnderALowLimit(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("needs prlimit (util-linux) to start drover with a low open-file limit")
	}
	const allocs, tasks, limit = 250, 4, 512
	work := t.TempDir()
	allocDir := filepath.Join(work, "alloc")
	srv := nomadtest.New(t)
	agent := srv.Agent()
	agent.DataDir, agent.AllocDir = work, allocDir
	srv.SetAgent(agent)

	var mu sync.Mutex
	got := map[string]int{}
	var problems []string
	recv, err := newReceiver(func(rec *record) {
		mu.Lock()
		defer mu.Unlock()
		if rec.Message != nil {
			got[*rec.Message]++
		}
	}, func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, msg)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.close()
	arrived := func(want []string) (missing int, first string) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range want {
			if got[m] == 0 {
				if missing == 0 {
					first = m
				}
				missing++
			}
		}
		return missing, first
	}

	type stream struct{ path string }
	var streams []stream
	var want []string
	for a := 0; a < allocs; a++ {
		spec := nomadtest.Alloc{ID: nomadtest.NewID(), Namespace: "default", Job: fmt.Sprintf("job-%d", a)}
		for i := 0; i < tasks; i++ {
			spec.Tasks = append(spec.Tasks, nomadtest.Task{Name: fmt.Sprintf("t%d", i)})
		}
		srv.AddAlloc(spec)
		dir := nomadtest.LogsDir(allocDir, spec.ID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, task := range spec.Tasks {
			for _, s := range []string{"stdout", "stderr"} {
				p := filepath.Join(dir, task.Name+"."+s+".0")
				line := fmt.Sprintf("%d %s %s first", a, task.Name, s)
				appendTo(t, p, line+"\n")
				streams = append(streams, stream{p})
				want = append(want, line)
			}
		}
	}

	cfgPath := filepath.Join(work, "drover.hcl")
	cfg := fmt.Sprintf(`
data_dir = %q
admin { address = "127.0.0.1:0" }
source "nomad_logs" "tasks" {
  nomad { address = %q }
}
sink "http" "out" {
  inputs = ["tasks"]
  uri    = %q
  healthcheck { enabled = false }
  batch { timeout = "50ms" }
}
`, filepath.Join(work, "data"), srv.URL(), recv.url())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(work, "drover.log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	cmd := exec.Command(prlimit, fmt.Sprintf("--nofile=%d:%d", limit, limit), droverBin, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr, cmd.Env = lf, lf, cleanEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("drover's log ends with:\n%s", tailOf(logPath, 40))
		}
	}()
	peak := sampleProcessFDs(cmd.Process.Pid)

	waitArrived := func(what string, want []string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			missing, first := arrived(want)
			if missing == 0 {
				return
			}
			select {
			case err := <-exited:
				t.Fatalf("drover exited: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d lines missing, the first %q", what, missing, first)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitArrived("the lines written before the start", want)
	rng := rand.New(rand.NewPCG(5, 6))
	var later []string
	for i, k := range rng.Perm(len(streams))[:300] {
		line := fmt.Sprintf("later %d", i)
		appendTo(t, streams[k].path, line+"\n")
		later = append(later, line)
	}
	waitArrived("the lines written later", later)

	metrics := scrape(t, logPath)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("drover stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("drover did not stop within 30s of SIGTERM")
	}
	top := peak()
	t.Logf("2000 streams under an open-file limit of %d: peak of %d descriptors; files parked %v, reopened %v, deferred %v",
		limit, top, metrics["drover_files_parked_total"], metrics["drover_files_reopened_total"], metrics["drover_files_deferred_total"])
	for _, name := range []string{"drover_files_over_budget_total", "drover_files_vanished_total", `drover_component_errors_total{stage="open"}`} {
		if metrics[name] != 0 {
			t.Errorf("%s = %v", name, metrics[name])
		}
	}
	if metrics["drover_files_parked_total"] == 0 || metrics["drover_files_reopened_total"] == 0 {
		t.Errorf("no file was parked or reopened: %v", metrics)
	}
	if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "too many open files") {
		t.Errorf("drover ran out of descriptors:\n%s", tailOf(logPath, 20))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// sampleProcessFDs counts a process's descriptors every few milliseconds
// and returns a function that stops and returns the highest count.
func sampleProcessFDs(pid int) func() int {
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		top := 0
		for {
			if entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil && len(entries) > top {
				top = len(entries)
			}
			select {
			case <-stop:
				done <- top
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() int {
		close(stop)
		return <-done
	}
}

var (
	adminRe  = regexp.MustCompile(`admin endpoint listening"? address=(\S+)`)
	sampleRe = regexp.MustCompile(`^(\w+)(\{[^}]*\})? (\S+)$`)
)

// scrape reads drover's metrics: every sample by name, and by
// name{stage="..."} for the errors.
func scrape(t *testing.T, logPath string) map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	m := adminRe.FindSubmatch(b)
	if m == nil {
		t.Fatal("drover's log does not name its admin address")
	}
	resp, err := http.Get("http://" + string(m[1]) + "/metrics")
	if err != nil {
		t.Fatalf("reading metrics: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		s := sampleRe.FindStringSubmatch(sc.Text())
		if s == nil {
			continue
		}
		v, err := strconv.ParseFloat(s[3], 64)
		if err != nil {
			continue
		}
		out[s[1]] += v
		if i := strings.Index(s[2], `stage="`); i >= 0 {
			stage := s[2][i:]
			stage = stage[:strings.Index(stage[len(`stage="`):], `"`)+len(`stage="`)+1]
			out[s[1]+"{"+stage+"}"] += v
		}
	}
	return out
}
