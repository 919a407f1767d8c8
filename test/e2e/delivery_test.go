package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// gate is an HTTP endpoint in front of a receiver that answers some
// requests itself, as a destination refusing them would, and forwards the
// others.
type gate struct {
	t     *testing.T
	srv   *httptest.Server
	proxy *httputil.ReverseProxy

	mu      sync.Mutex
	decide  func(r *http.Request, body []byte) (status int, answer string)
	answers map[int]int // requests answered by status
}

func newGate(t *testing.T, recv *receiver, decide func(r *http.Request, body []byte) (int, string)) *gate {
	target, err := url.Parse("http://" + recv.addr)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{t: t, proxy: httputil.NewSingleHostReverseProxy(target), decide: decide, answers: map[int]int{}}
	g.srv = httptest.NewServer(g)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gate) url() string { return g.srv.URL + "/ingest" }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	body := raw
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			g.t.Errorf("gate: bad gzip body: %v", err)
		}
	}
	g.mu.Lock()
	status, answer := g.decide(r, body)
	if status != 0 {
		g.answers[status]++
	}
	g.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		io.WriteString(w, answer)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	r.ContentLength = int64(len(raw))
	g.proxy.ServeHTTP(w, r)
}

func (g *gate) answered(status int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.answers[status]
}

// lineCount is the number of NDJSON lines of a request body.
func lineCount(body []byte) int { return bytes.Count(body, []byte("\n")) }

// checkOnce fails t unless every message of want arrived exactly once.
func checkOnce(t *testing.T, recv *receiver, want []string) {
	t.Helper()
	counts, _ := recv.snapshot()
	for _, m := range want {
		if counts[m] != 1 {
			t.Errorf("%q arrived %d times", m, counts[m])
		}
	}
}

// TestRotatedTokenLosesNothing: the destination refuses the token with
// 401 until the operator rotates it by rewriting the token file, the way
// Vault agent does. Meanwhile drover keeps every line (the files are the
// buffer), says why it waits, and discards nothing; once the file holds
// the new token, every line arrives, once.
func TestRotatedTokenLosesNothing(t *testing.T) {
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	token := filepath.Join(base, "token")
	if err := os.WriteFile(token, []byte("expired-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	recv := newReceiver(t)
	g := newGate(t, recv, func(r *http.Request, _ []byte) (int, string) {
		if r.Header.Get("Authorization") != "Bearer rotated-token" {
			return http.StatusUnauthorized, `{"error":"invalid token"}`
		}
		return 0, ""
	})
	cfg := writeConfig(t, base, fileToHTTP(filepath.Join(base, "data"), []string{logDir + "/*.log"}, g.url(), fmt.Sprintf(`
  auth {
    strategy   = "bearer"
    token_file = %q
  }
`, token)))
	d := startDrover(t, cfg)
	app := filepath.Join(logDir, "app.log")
	before := numbered("before", 0, 3000)
	appendLines(t, app, before...)
	waitUntil(t, 30*time.Second, "the refused attempts to be counted", func() bool {
		return d.metric("drover_component_delivery_failures_total", `component_id="out"`, `reason="unauthorized"`) >= 3
	})
	during := numbered("during", 0, 2000)
	appendLines(t, app, during...)
	time.Sleep(500 * time.Millisecond) // more refused attempts, with the new lines read
	if n := recv.received(); n != 0 {
		t.Fatalf("the receiver got %d lines through a refused token", n)
	}
	if d.metric("drover_component_discarded_events_total", `component_id="out"`) != 0 {
		t.Fatal("lines were discarded while the token was refused")
	}
	if log := d.stderr.String(); !strings.Contains(log, "reason=unauthorized") || !strings.Contains(log, "token_file is read again") {
		t.Errorf("the refusal was not logged with its reason and hint:\n%s", tail(log, 20))
	}

	// The operator rotates the token: a new file renamed over the old.
	if err := os.WriteFile(token+".new", []byte("rotated-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(token+".new", token); err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	all := append(append([]string{}, before...), during...)
	waitUntil(t, 30*time.Second, "every line after the rotation", func() bool { return recv.hasAll(all) })
	t.Logf("every line arrived %s after the token file was rotated", time.Since(rotated).Round(10*time.Millisecond))
	after := numbered("after", 0, 100)
	appendLines(t, app, after...)
	waitUntil(t, 30*time.Second, "the lines written after the rotation", func() bool { return recv.hasAll(after) })
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}
	checkOnce(t, recv, append(all, after...))
	if !strings.Contains(d.stderr.String(), "sending works again") {
		t.Error("the recovery was not logged")
	}
}

// TestTooLargeRequestsAreSplit: a proxy in front of the destination
// answers 413 to requests of more than 40 lines; drover sends them again in
// halves, and every line arrives once, none discarded.
func TestTooLargeRequestsAreSplit(t *testing.T) {
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	recv := newReceiver(t)
	g := newGate(t, recv, func(r *http.Request, body []byte) (int, string) {
		if r.Method == http.MethodPost && lineCount(body) > 40 {
			return http.StatusRequestEntityTooLarge, "<html><body><h1>413 Request Entity Too Large</h1></body></html>"
		}
		return 0, ""
	})
	cfg := writeConfig(t, base, fileToHTTP(filepath.Join(base, "data"), []string{logDir + "/*.log"}, g.url(), ""))
	d := startDrover(t, cfg)
	lines := numbered("line", 0, 5000)
	appendLines(t, filepath.Join(logDir, "app.log"), lines...)
	waitUntil(t, 60*time.Second, "every line", func() bool { return recv.hasAll(lines) })
	if n := d.metric("drover_component_discarded_events_total", `component_id="out"`); n != 0 {
		t.Fatalf("%v lines discarded", n)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}
	checkOnce(t, recv, lines)
	if g.answered(http.StatusRequestEntityTooLarge) == 0 {
		t.Fatal("no request was refused as too large: the test tests nothing")
	}
	if n := strings.Count(d.stderr.String(), "refused a request as too large"); n != 1 {
		t.Errorf("the split was advised %d times, want once", n)
	}
}

// deadLetter is a line of the dead-letter file.
type deadLetter struct {
	Message    string `json:"message"`
	File       string `json:"file"`
	DeadLetter struct {
		Sink   string    `json:"sink"`
		Reason string    `json:"reason"`
		Error  string    `json:"error"`
		Status int       `json:"status"`
		Time   time.Time `json:"time"`
	} `json:"dead_letter"`
}

func readDeadLetters(t *testing.T, path string) []deadLetter {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []deadLetter
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l deadLetter
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("dead-letter line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// TestRefusedLinesGoToTheDeadLetterFile: the destination answers 400 to
// any request that holds a malformed line, without saying which; drover
// finds the lines by sending the request again in halves, delivers the
// others, and writes each refused line, as it was and with why, to a
// dead-letter file kept by a file sink that consumes the http sink's
// dead-letter output.
func TestRefusedLinesGoToTheDeadLetterFile(t *testing.T) {
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	dataDir := filepath.Join(base, "data")
	os.MkdirAll(logDir, 0o755)
	recv := newReceiver(t)
	g := newGate(t, recv, func(r *http.Request, body []byte) (int, string) {
		if bytes.Contains(body, []byte("malformed")) {
			return http.StatusBadRequest, `{"error":"cannot index a document: field [status] of type [long]"}`
		}
		return 0, ""
	})
	dlq := filepath.Join(dataDir, "dead-letter", "out.ndjson")
	cfg := writeConfig(t, base, fileToHTTP(dataDir, []string{logDir + "/*.log"}, g.url(), "")+fmt.Sprintf(`
sink "file" "dlq" {
  inputs = ["out.dead_letter"]
  path   = %q
  fsync  = true
  rotate {
    max_bytes = "1MiB"
    max_files = 3
  }
}
`, dlq))
	d := startDrover(t, cfg)
	var lines, good, bad []string
	for i := range 3000 {
		l := fmt.Sprintf("line-%07d status=200", i)
		if i%700 == 13 {
			l = fmt.Sprintf("line-%07d status=malformed", i)
			bad = append(bad, l)
		} else {
			good = append(good, l)
		}
		lines = append(lines, l)
	}
	app := filepath.Join(logDir, "app.log")
	appendLines(t, app, lines...)
	waitUntil(t, 60*time.Second, "every good line", func() bool { return recv.hasAll(good) })
	waitUntil(t, 30*time.Second, "the dead letters", func() bool { return len(readDeadLetters(t, dlq)) >= len(bad) })
	if n := d.metric("drover_component_discarded_events_total", `component_id="out"`, `reason="bad_request"`); n != float64(len(bad)) {
		t.Errorf("discarded{bad_request} = %v, want %d", n, len(bad))
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}
	checkOnce(t, recv, good)
	counts, _ := recv.snapshot()
	for _, m := range bad {
		if counts[m] != 0 {
			t.Errorf("the refused line %q arrived", m)
		}
	}
	letters := readDeadLetters(t, dlq)
	var got []string
	for _, l := range letters {
		got = append(got, l.Message)
		if l.File != app || l.DeadLetter.Sink != "out" || l.DeadLetter.Reason != "bad_request" || l.DeadLetter.Status != 400 ||
			!strings.Contains(l.DeadLetter.Error, "cannot index a document") || l.DeadLetter.Time.IsZero() {
			t.Errorf("dead letter %+v", l)
		}
	}
	slices.Sort(got)
	if fmt.Sprint(got) != fmt.Sprint(bad) {
		t.Fatalf("dead letters %q, want %q", got, bad)
	}
	// The checkpoint moved past the refused lines, and only once their
	// dead letters were written: a restart sends nothing again.
	d = startDrover(t, cfg)
	appendLines(t, app, "line-after-restart")
	waitUntil(t, 30*time.Second, "the line written after the restart", func() bool { return recv.hasAll([]string{"line-after-restart"}) })
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}
	checkOnce(t, recv, append(good, "line-after-restart"))
	if n := len(readDeadLetters(t, dlq)); n != len(bad) {
		t.Fatalf("%d dead letters after the restart, want %d", n, len(bad))
	}
}

// TestDeliveryResumesPromptlyAfterAnOutage: the destination is down long
// enough for the retries' backoff to grow to tens of seconds; once it is
// back, the probe finds it within about a second and wakes the retries.
func TestDeliveryResumesPromptlyAfterAnOutage(t *testing.T) {
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	recv := newReceiver(t)
	recv.down()
	cfg := writeConfig(t, base, fmt.Sprintf(`
data_dir = %q
admin { address = "127.0.0.1:0" }
log { level = "debug" }

source "file" "logs" { include = [%q] }

sink "http" "out" {
  inputs = ["logs"]
  uri    = %q
  batch { timeout = "100ms" }
  request {
    retry_initial_backoff = "8s"
    retry_max_backoff     = "30s"
    probe_interval        = "1s"
  }
}
`, filepath.Join(base, "data"), logDir+"/*.log", recv.url()))
	d := startDrover(t, cfg)
	lines := numbered("line", 0, 100)
	appendLines(t, filepath.Join(logDir, "app.log"), lines...)
	// The third retry waits 15 to 30 seconds: the outage outlasts the
	// first two.
	waitUntil(t, 60*time.Second, "three failed attempts", func() bool {
		return d.metric("drover_component_delivery_failures_total", `component_id="out"`, `reason="unreachable"`) >= 3
	})
	recv.up()
	back := time.Now()
	waitUntil(t, 30*time.Second, "every line", func() bool { return recv.hasAll(lines) })
	took := time.Since(back)
	t.Logf("delivered %s after the destination came back", took.Round(10*time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("delivered %s after the destination came back; the probe runs every second", took)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}
}
