package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fileToHTTP is a configuration that tails include into the receiver.
func fileToHTTP(dataDir string, include []string, uri string, extra string) string {
	q := make([]string, len(include))
	for i, p := range include {
		q[i] = fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf(`
data_dir = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }
log { level = "debug" }

source "file" "logs" {
  include = [%s]
}

sink "http" "out" {
  inputs   = ["logs"]
  uri      = %q
  encoding = "ndjson"
  batch {
    max_events = 500
    timeout    = "100ms"
  }
  request {
    retry_initial_backoff = "50ms"
    retry_max_backoff     = "500ms"
  }
  %s
}
`, dataDir, strings.Join(q, ", "), uri, extra)
}

func numbered(prefix string, from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%07d", prefix, i))
	}
	return out
}

// rotatingWriter writes numbered lines and rotates its file every perFile
// lines, in the Nomad way (a new numbered file) or the logrotate way (rename,
// then create).
type rotatingWriter struct {
	dir, prefix string
	nomad       bool
	perFile     int

	mu      sync.Mutex
	written []string
	files   [][2]int // per file: first and last+1 line number
	paths   []string
}

func (w *rotatingWriter) path(n int) string {
	if w.nomad {
		return filepath.Join(w.dir, fmt.Sprintf("web.stdout.%d", n))
	}
	return filepath.Join(w.dir, "app.log")
}

// run writes total lines at about rate lines per second.
func (w *rotatingWriter) run(t *testing.T, total, rate int, stop <-chan struct{}) {
	const chunk = 50
	interval := time.Duration(float64(time.Second) * chunk / float64(rate))
	fileNo, inFile := 0, 0
	for i := 0; i < total; i += chunk {
		select {
		case <-stop:
			return
		default:
		}
		if inFile >= w.perFile {
			fileNo++
			inFile = 0
			if !w.nomad {
				rotated := filepath.Join(w.dir, fmt.Sprintf("app.log.%d", fileNo))
				if err := os.Rename(w.path(0), rotated); err != nil {
					t.Errorf("rotating: %v", err)
					return
				}
				w.mu.Lock()
				w.paths[len(w.paths)-1] = rotated
				w.mu.Unlock()
			}
		}
		lines := numbered(w.prefix, i, min(i+chunk, total))
		w.mu.Lock()
		if inFile == 0 {
			w.files = append(w.files, [2]int{i, i})
			w.paths = append(w.paths, w.path(fileNo))
		}
		w.mu.Unlock()
		appendLines(t, w.path(fileNo), lines...)
		w.mu.Lock()
		w.written = append(w.written, lines...)
		w.files[len(w.files)-1][1] = i + len(lines)
		w.mu.Unlock()
		inFile += len(lines)
		time.Sleep(interval)
	}
}

// purge deletes files whose lines all arrived, except the current one.
func (w *rotatingWriter) purge(r *receiver) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := 0; i < len(w.files)-1; i++ {
		if w.paths[i] == "" {
			continue
		}
		if r.hasAll([]string{fmt.Sprintf("%s-%07d", w.prefix, w.files[i][1]-1)}) &&
			r.hasAll(w.written[w.files[i][0]:w.files[i][1]]) {
			os.Remove(w.paths[i])
			w.paths[i] = ""
		}
	}
}

func (w *rotatingWriter) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.written...)
}

// TestCrashSafety kills drover with SIGKILL several times while two writers
// log and rotate (Nomad style and logrotate style), restarts it each time,
// and checks that every line arrived at least once, that duplicates stay
// within the unacknowledged window, and that the metadata is right.
func TestCrashSafety(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("DROVER_E2E_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (rerun with DROVER_E2E_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewSource(seed))

	base := t.TempDir()
	rotDir, nomadDir := filepath.Join(base, "rot"), filepath.Join(base, "nomad")
	os.MkdirAll(rotDir, 0o755)
	os.MkdirAll(nomadDir, 0o755)
	recv := newReceiver(t)
	cfg := writeConfig(t, base, fileToHTTP(filepath.Join(base, "data"),
		[]string{rotDir + "/app.log*", nomadDir + "/web.stdout.*"}, recv.url(), ""))

	const total, rate = 60000, 4000 // per writer: 15 s of writing
	rot := &rotatingWriter{dir: rotDir, prefix: "rot", perFile: 5000}
	nom := &rotatingWriter{dir: nomadDir, prefix: "nomad", nomad: true, perFile: 5000}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for _, w := range []*rotatingWriter{rot, nom} {
		writers.Add(1)
		go func() { defer writers.Done(); w.run(t, total, rate, stop) }()
	}
	defer close(stop)

	d := startDrover(t, cfg)
	var kills atomic.Int32
	writersDone := make(chan struct{})
	go func() { writers.Wait(); close(writersDone) }()
	for running := true; running; {
		select {
		case <-writersDone:
			running = false
		case <-time.After(time.Duration(800+rng.Intn(1700)) * time.Millisecond):
			rot.purge(recv)
			nom.purge(recv)
			d.kill()
			kills.Add(1)
			d = startDrover(t, cfg)
		}
	}
	want := append(rot.lines(), nom.lines()...)
	waitUntil(t, 90*time.Second, "every line to arrive", func() bool { return recv.hasAll(want) })
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d after SIGTERM", code)
	}

	counts, records := recv.snapshot()
	written := map[string]bool{}
	for _, l := range want {
		written[l] = true
	}
	dups := 0
	for msg, n := range counts {
		if !written[msg] {
			t.Errorf("received a line that was never written: %q", msg)
		}
		dups += n - 1
	}
	host, _ := os.Hostname()
	for _, rec := range records {
		msg, file := rec.str("message"), rec.str("file")
		switch {
		case strings.HasPrefix(msg, "rot-") && !strings.HasPrefix(file, rotDir+"/app.log"),
			strings.HasPrefix(msg, "nomad-") && !strings.HasPrefix(file, nomadDir+"/web.stdout."):
			t.Errorf("line %q has file %q", msg, file)
		}
		if rec.str("source_type") != "file" || rec.str("host") != host {
			t.Errorf("line %q has source_type %q host %q", msg, rec.str("source_type"), rec.str("host"))
		}
	}
	// What can repeat after a SIGKILL is what was delivered but not yet in a
	// persisted checkpoint: about checkpoint_interval (1s) of lines plus what
	// was in flight (queue and batches), per kill.
	perKill := 2*rate*2 + 10000
	t.Logf("crash safety: %d lines written, %d received, %d unique, %d duplicates after %d SIGKILLs (bound %d)",
		len(want), len(records), len(counts), dups, kills.Load(), int(kills.Load())*perKill)
	if kills.Load() < 3 {
		t.Errorf("only %d kills happened; the test needs several", kills.Load())
	}
	if dups > int(kills.Load())*perKill {
		t.Errorf("%d duplicates exceed the unacknowledged window bound %d", dups, int(kills.Load())*perKill)
	}
}

// TestSinkOutage: the receiver first refuses connections, then answers 503,
// then recovers. No line is lost, none is duplicated, and while the sink is
// down drover stops reading instead of buffering: its queue stays within
// max_events and its memory stays small although far more data waits.
func TestSinkOutage(t *testing.T) {
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	recv := newReceiver(t)
	recv.down()
	cfg := writeConfig(t, base, fileToHTTP(filepath.Join(base, "data"), []string{logDir + "/*.log"}, recv.url(),
		"buffer {\n    max_events = 2000\n  }"))

	// 40 MiB of lines wait on disk.
	pad := strings.Repeat("p", 200)
	var want []string
	for f := 0; f < 4; f++ {
		lines := numbered(fmt.Sprintf("out%d", f), 0, 50000)
		padded := make([]string, len(lines))
		for i, l := range lines {
			padded[i] = l + " " + pad
		}
		appendLines(t, filepath.Join(logDir, fmt.Sprintf("f%d.log", f)), padded...)
		want = append(want, padded...)
	}
	d := startDrover(t, cfg)
	const maxRSS = 120 << 20
	checkBounded := func(phase string) {
		t.Helper()
		waitUntil(t, 20*time.Second, "the queue to fill ("+phase+")", func() bool {
			return d.metric("drover_buffer_events", `component_id="out"`) > 0
		})
		for i := 0; i < 20; i++ {
			if q := d.metric("drover_buffer_events", `component_id="out"`); q > 2000 {
				t.Fatalf("%s: %v events queued, max_events is 2000", phase, q)
			}
			if rss := d.rssBytes(); rss > maxRSS {
				t.Fatalf("%s: drover uses %d MiB of memory with a bounded queue", phase, rss>>20)
			}
			time.Sleep(50 * time.Millisecond)
		}
		behind := d.metric("drover_file_bytes_behind")
		if behind < 10<<20 {
			t.Fatalf("%s: only %v bytes behind: drover kept reading while the sink was down", phase, behind)
		}
		t.Logf("%s: queue %v events, %v MiB unread on disk, RSS %d MiB", phase,
			d.metric("drover_buffer_events", `component_id="out"`), int(behind)>>20, d.rssBytes()>>20)
	}
	checkBounded("connection refused")
	recv.setStatus(503)
	recv.up()
	waitUntil(t, 20*time.Second, "drover to retry against the 503s", func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		return recv.refused >= 3
	})
	checkBounded("503")
	if n := recv.received(); n != 0 {
		t.Fatalf("%d records accepted during the outage", n)
	}
	recv.setStatus(0)
	waitUntil(t, 120*time.Second, "every line after recovery", func() bool { return recv.hasAll(want) })
	if retries := d.metric("drover_component_retries_total", `component_id="out"`); retries < 3 {
		t.Errorf("drover_component_retries_total = %v after an outage", retries)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	counts, records := recv.snapshot()
	if len(records) != len(want) || len(counts) != len(want) {
		t.Fatalf("received %d records, %d unique, want %d exactly once", len(records), len(counts), len(want))
	}
}

// TestBadInput ships invalid UTF-8, NUL bytes and a 10 MiB line, and keeps
// going with the lines after them.
func TestBadInput(t *testing.T) {
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	recv := newReceiver(t)
	cfg := writeConfig(t, base, strings.Replace(
		fileToHTTP(filepath.Join(base, "data"), []string{logDir + "/*.log"}, recv.url(), ""),
		`source "file" "logs" {`, "source \"file\" \"logs\" {\n  max_line_bytes = \"64KiB\"", 1))
	d := startDrover(t, cfg)
	long := strings.Repeat("x", 10<<20)
	f, err := os.Create(filepath.Join(logDir, "bad.log"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "first\n\xff\xfe broken utf8\nnul\x00byte\n"+long+"\nafter-long\n\x01\x02binary\x7f\n")
	f.Close()
	waitUntil(t, 20*time.Second, "the line after the long one", func() bool { return recv.hasAll([]string{"after-long"}) })
	waitUntil(t, 5*time.Second, "all six lines", func() bool { return recv.received() >= 6 })
	_, records := recv.snapshot()
	msgs := make([]string, len(records))
	for i, r := range records {
		msgs[i] = r.str("message")
	}
	wantPrefix := []string{"first", "\ufffd\ufffd broken utf8", "nul\x00byte"}
	for i, w := range wantPrefix {
		if msgs[i] != w {
			t.Errorf("record %d: message %q, want %q", i, msgs[i], w)
		}
	}
	if len(msgs[3]) != 64<<10 || strings.Trim(msgs[3], "x") != "" {
		t.Errorf("long line: got %d bytes, want the first 64 KiB", len(msgs[3]))
	}
	if records[3]["truncated"] != true {
		t.Errorf("long line not marked truncated: %v", records[3]["truncated"])
	}
	if msgs[4] != "after-long" || msgs[5] != "\x01\x02binary\x7f" {
		t.Errorf("lines after the long one: %q", msgs[4:])
	}
	if rss := d.rssBytes(); rss > 100<<20 {
		t.Errorf("RSS %d MiB after a 10 MiB line with max_line_bytes 64KiB", rss>>20)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestRestartResumesWithoutDuplicates: a clean stop persists the positions;
// lines written while drover is down arrive after the restart, and nothing
// arrives twice.
func TestRestartResumesWithoutDuplicates(t *testing.T) {
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	recv := newReceiver(t)
	cfg := writeConfig(t, base, fileToHTTP(filepath.Join(base, "data"), []string{logDir + "/*.log"}, recv.url(), ""))
	first := numbered("a", 0, 3000)
	appendLines(t, filepath.Join(logDir, "a.log"), first...)
	d := startDrover(t, cfg)
	waitUntil(t, 20*time.Second, "first lines", func() bool { return recv.hasAll(first) })
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	second := numbered("a", 3000, 6000)
	appendLines(t, filepath.Join(logDir, "a.log"), second...)
	appendLines(t, filepath.Join(logDir, "b.log"), numbered("b", 0, 100)...)
	d = startDrover(t, cfg)
	all := append(append(first, second...), numbered("b", 0, 100)...)
	waitUntil(t, 20*time.Second, "lines written while stopped", func() bool { return recv.hasAll(all) })
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	counts, records := recv.snapshot()
	if len(records) != len(all) {
		t.Fatalf("received %d records for %d lines (%d unique)", len(records), len(all), len(counts))
	}
	// In order per file.
	last := map[string]string{}
	for _, r := range records {
		f, m := r.str("file"), r.str("message")
		if m <= last[f] {
			t.Fatalf("file %s: %q arrived after %q", f, m, last[f])
		}
		last[f] = m
	}
}

// TestReloadKeepsPositions: SIGHUP with a changed sink keeps the unchanged
// source reading where it was; an invalid configuration is refused with a
// clear error and drover keeps running.
func TestReloadKeepsPositions(t *testing.T) {
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	recv := newReceiver(t)
	mk := func(extra string) string {
		return fileToHTTP(filepath.Join(base, "data"), []string{logDir + "/*.log"}, recv.url(), extra)
	}
	cfgPath := writeConfig(t, base, mk(`headers = { "X-Generation" = "1" }`))
	d := startDrover(t, cfgPath)
	first := numbered("r", 0, 2000)
	appendLines(t, filepath.Join(logDir, "r.log"), first...)
	waitUntil(t, 20*time.Second, "first lines", func() bool { return recv.hasAll(first) })

	// An invalid configuration is refused.
	writeConfig(t, base, mk(`headers = { "X-Generation" = "2" }`+"\n  bogus_option = true"))
	d.cmd.Process.Signal(syscallHUP)
	waitUntil(t, 10*time.Second, "the reload error", func() bool {
		return strings.Contains(d.stderr.String(), "drover.hcl:") && strings.Contains(d.stderr.String(), "bogus_option")
	})
	second := numbered("r", 2000, 3000)
	appendLines(t, filepath.Join(logDir, "r.log"), second...)
	waitUntil(t, 20*time.Second, "lines after the refused reload", func() bool { return recv.hasAll(second) })

	// A valid change of the sink.
	writeConfig(t, base, mk(`headers = { "X-Generation" = "3" }`))
	d.cmd.Process.Signal(syscallHUP)
	waitUntil(t, 10*time.Second, "the reload", func() bool {
		return strings.Contains(d.stderr.String(), "configuration reloaded")
	})
	if !strings.Contains(d.stderr.String(), "changed=[out]") || !strings.Contains(d.stderr.String(), "kept=[logs]") {
		t.Errorf("reload did not keep the source and replace the sink:\n%s", tail(d.stderr.String(), 5))
	}
	third := numbered("r", 3000, 4000)
	appendLines(t, filepath.Join(logDir, "r.log"), third...)
	waitUntil(t, 20*time.Second, "lines after the reload", func() bool { return recv.hasAll(third) })
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	counts, records := recv.snapshot()
	if len(records) != 4000 || len(counts) != 4000 {
		t.Fatalf("received %d records (%d unique), want 4000 exactly once", len(records), len(counts))
	}
}

// TestCLI checks validate, version and the built-in configuration.
func TestCLI(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (string, int) {
		cmd := exec.Command(droverBin, args...)
		cmd.Env = append(os.Environ(), "DROVER_DATA_DIR="+dir)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := run("version"); code != 0 || !strings.HasPrefix(out, "drover ") {
		t.Errorf("version: %d %q", code, out)
	}
	if out, code := run("validate"); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("validate of the built-in configuration: %d %q", code, out)
	}
	if out, code := run("default-config"); code != 0 || !strings.Contains(out, `sink "stdout"`) {
		t.Errorf("default-config: %d %q", code, out)
	}
	bad := writeConfig(t, dir, "source \"file\" \"x\" {\n  include = [\"/tmp/*.log\"]\n  read_from = \"sideways\"\n}\nsink \"stdout\" \"o\" { inputs = [\"x\"] }\n")
	out, code := run("validate", "--config", bad)
	if code != 1 || !strings.Contains(out, bad+":3,") || !strings.Contains(out, "read_from") {
		t.Errorf("validate of a bad file: exit %d, output %q", code, out)
	}
	if out, code := run("validate", "--config", filepath.Join(dir, "missing.hcl")); code != 1 || !strings.Contains(out, "missing.hcl") {
		t.Errorf("validate of a missing file: exit %d, output %q", code, out)
	}
	if _, code := run("frobnicate"); code != 2 {
		t.Errorf("unknown command exit %d, want 2", code)
	}
}

// TestStdoutAndFileSinks: one source feeding the stdout sink and a file sink
// with a templated path; both get every line, as JSON objects.
func TestStdoutAndFileSinks(t *testing.T) {
	base := t.TempDir()
	logDir, outDir := filepath.Join(base, "logs"), filepath.Join(base, "out")
	os.MkdirAll(logDir, 0o755)
	cfg := writeConfig(t, base, fmt.Sprintf(`
data_dir = %q
admin { address = "127.0.0.1:0" }
source "file" "logs" { include = [%q] }
sink "stdout" "console" { inputs = ["logs"] }
sink "file" "archive" {
  inputs = ["logs"]
  path   = "%s/{{ source_type }}-{{ host }}.ndjson"
}
`, filepath.Join(base, "data"), logDir+"/*.log", outDir))
	lines := numbered("s", 0, 500)
	appendLines(t, filepath.Join(logDir, "x.log"), lines...)
	d := startDrover(t, cfg)
	host, _ := os.Hostname()
	archive := filepath.Join(outDir, "file-"+host+".ndjson")
	countLines := func(text string) int { return strings.Count(text, "\n") }
	waitUntil(t, 20*time.Second, "both sinks", func() bool {
		b, _ := os.ReadFile(archive)
		return countLines(string(b)) == len(lines) && countLines(d.stdout.String()) == len(lines)
	})
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	b, _ := os.ReadFile(archive)
	for name, text := range map[string]string{"stdout": d.stdout.String(), "file": string(b)} {
		got := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		for i, line := range got {
			var rec record
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("%s line %d is not JSON: %q", name, i, line)
			}
			if rec.str("message") != lines[i] || rec.str("file") != filepath.Join(logDir, "x.log") || rec.str("timestamp") == "" {
				t.Fatalf("%s line %d: %v", name, i, rec)
			}
		}
	}
}
