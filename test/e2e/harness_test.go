// Package e2e tests the real drover binary: it is built once, run with
// configurations written by the tests, fed with files on disk, and its
// output checked by a receiver in the test process.
package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var droverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "drover-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	droverBin = filepath.Join(dir, "drover")
	build := exec.Command("go", "build", "-o", droverBin, "github.com/drover-dev/drover/cmd/drover")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building drover:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// drover is one running drover process.
type drover struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *syncBuffer
	stdout *syncBuffer
	admin  string
	exited chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var adminRe = regexp.MustCompile(`admin endpoint listening"? address=(\S+)`)

// startDrover runs drover with the configuration in cfgPath and waits until
// its admin endpoint reports ready.
func startDrover(t *testing.T, cfgPath string) *drover {
	t.Helper()
	d := &drover{t: t, stderr: &syncBuffer{}, stdout: &syncBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(droverBin, "run", "--config", cfgPath)
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting drover: %v", err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("drover stderr (pid %d):\n%s", d.cmd.Process.Pid, tail(d.stderr.String(), 60))
		}
	})
	waitUntil(t, 20*time.Second, "drover's admin endpoint", func() bool {
		select {
		case <-d.exited:
			t.Fatalf("drover exited at start: %v\n%s", d.err, d.stderr.String())
		default:
		}
		if d.admin == "" {
			m := adminRe.FindStringSubmatch(d.stderr.String())
			if m == nil {
				return false
			}
			d.admin = m[1]
		}
		resp, err := http.Get("http://" + d.admin + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return d
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// kill stops drover with SIGKILL: no flush, no checkpoint.
func (d *drover) kill() {
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

// stop sends SIGTERM and returns the exit code.
func (d *drover) stop() int {
	d.t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(60 * time.Second):
		d.t.Fatalf("drover did not stop within 60s after SIGTERM")
	}
	return d.cmd.ProcessState.ExitCode()
}

// metric reads one sample of the admin endpoint's /metrics: the sum of the
// series whose name is name and whose labels contain every given label.
func (d *drover) metric(name string, labels ...string) float64 {
	d.t.Helper()
	resp, err := http.Get("http://" + d.admin + "/metrics")
	if err != nil {
		d.t.Fatalf("reading metrics: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v); err == nil {
			sum += v
		}
	}
	return sum
}

// rssBytes is the resident memory of the drover process.
func (d *drover) rssBytes() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kb)
			return kb * 1024
		}
	}
	return -1
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// record is one event as the receiver decoded it.
type record map[string]any

func (r record) str(key string) string {
	v, _ := r[key].(string)
	return v
}

// receiver is an HTTP endpoint that takes drover's http sink requests. It can
// refuse connections (listener closed) or answer with an error status.
type receiver struct {
	t    *testing.T
	addr string

	mu       sync.Mutex
	ln       net.Listener
	srv      *http.Server
	status   int // answer with this status instead of 200 when non-zero
	counts   map[string]int
	records  []record
	requests int
	refused  int // requests answered with a non-2xx status
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, counts: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/ingest" }

func (r *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle)}
	r.ln, r.srv = ln, srv
	go srv.Serve(ln)
}

// down closes the listener: connections are refused.
func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// up listens again on the same address.
func (r *receiver) up() {
	var ln net.Listener
	waitUntil(r.t, 10*time.Second, "the receiver's port to be free again", func() bool {
		var err error
		ln, err = net.Listen("tcp", r.addr)
		return err == nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.serve(ln)
}

func (r *receiver) setStatus(code int) {
	r.mu.Lock()
	r.status = code
	r.mu.Unlock()
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if r.status != 0 {
		r.refused++
		w.WriteHeader(r.status)
		return
	}
	var recs []record
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("[")) {
		if err := json.Unmarshal(data, &recs); err != nil {
			r.t.Errorf("receiver: invalid JSON array body: %v", err)
		}
	} else {
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var rec record
			if err := json.Unmarshal(line, &rec); err != nil {
				r.t.Errorf("receiver: invalid NDJSON line %q: %v", line, err)
				continue
			}
			recs = append(recs, rec)
		}
	}
	for _, rec := range recs {
		r.counts[rec.str("message")]++
		r.records = append(r.records, rec)
	}
	w.WriteHeader(http.StatusOK)
}

// snapshot returns copies of what was received.
func (r *receiver) snapshot() (counts map[string]int, records []record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	counts = make(map[string]int, len(r.counts))
	for k, v := range r.counts {
		counts[k] = v
	}
	return counts, append([]record(nil), r.records...)
}

// has reports whether every message in want arrived at least once.
func (r *receiver) hasAll(want []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range want {
		if r.counts[m] == 0 {
			return false
		}
	}
	return true
}

func (r *receiver) received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.records)
}

// writeConfig writes an HCL configuration into dir and returns its path.
func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "drover.hcl")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// appendLines appends lines to path, creating it when needed.
func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
}
