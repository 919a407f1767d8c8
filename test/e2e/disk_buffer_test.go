package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// diskBufferConfig is fileToHTTP with a disk buffer and a short shutdown
// timeout (a sink that is down cannot deliver what it holds anyway).
func diskBufferConfig(dataDir string, include []string, uri, buffer string) string {
	cfg := fileToHTTP(dataDir, include, uri, "buffer {\n    type = \"disk\"\n"+buffer+"\n  }")
	return strings.Replace(cfg, `shutdown_timeout = "20s"`, `shutdown_timeout = "3s"`, 1)
}

// logmon writes numbered lines the way Nomad's logmon writes a task's
// output: into <dir>/<task>.stdout.<n>, starting file n+1 once file n has
// reached maxSize, and deleting the oldest files beyond maxFiles.
type logmon struct {
	dir, task string
	maxSize   int64
	maxFiles  int

	mu      sync.Mutex
	index   int
	size    int64
	written []string
	purged  int
}

func (l *logmon) path(n int) string {
	return filepath.Join(l.dir, fmt.Sprintf("%s.stdout.%d", l.task, n))
}

// write appends lines, rotating and purging as logmon does.
func (l *logmon) write(t *testing.T, lines []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range lines {
		if l.size >= l.maxSize {
			l.index++
			l.size = 0
			if old := l.index - l.maxFiles; old >= 0 {
				if err := os.Remove(l.path(old)); err != nil {
					t.Errorf("purging %s: %v", l.path(old), err)
				}
				l.purged++
			}
		}
		appendLines(t, l.path(l.index), line)
		l.size += int64(len(line) + 1)
		l.written = append(l.written, line)
	}
}

func (l *logmon) state() (written []string, purged int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.written...), l.purged
}

// TestDiskBufferOutlastsNomadRotation: the sink is down for much longer than
// the task's log files last (logmon rotates and purges them), and drover is
// restarted in the middle of the outage. With a disk buffer every line
// arrives, exactly once, once the sink is back.
func TestDiskBufferOutlastsNomadRotation(t *testing.T) {
	base := t.TempDir()
	logs := filepath.Join(base, "alloc", "logs")
	os.MkdirAll(logs, 0o755)
	recv := newReceiver(t)
	recv.down()
	dataDir := filepath.Join(base, "data")
	cfg := writeConfig(t, base, diskBufferConfig(dataDir, []string{logs + "/web.stdout.*"}, recv.url(), `    max_size = "256MiB"`))

	// The rotation window is 3 files of 32 KiB: about 1000 lines.
	lm := &logmon{dir: logs, task: "web", maxSize: 32 << 10, maxFiles: 3}
	const total, chunk = 40000, 100
	pad := strings.Repeat("p", 60)
	var d *drover
	writeRange := func(from, to int) {
		for i := from; i < to; i += chunk {
			lines := numbered("line", i, min(i+chunk, to))
			for j := range lines {
				lines[j] += " " + pad
			}
			lm.write(t, lines)
			time.Sleep(5 * time.Millisecond)
			// The test is about the buffer outlasting the rotation, not
			// about reading faster than the writer on a loaded machine:
			// the writer keeps within half a rotation window of what
			// drover buffered (every line read is buffered: the sink is
			// down).
			if i%1000 == 0 {
				waitUntil(t, 60*time.Second, "drover to keep up with the writer", func() bool {
					return d.metric("drover_buffer_events", `component_id="out"`) >= float64(i-500)
				})
			}
		}
	}
	d = startDrover(t, cfg)
	writeRange(0, total/2)
	waitUntil(t, 60*time.Second, "the first half in the disk buffer", func() bool {
		return d.metric("drover_buffer_events", `component_id="out"`) >= total/2
	})
	if age := d.metric("drover_buffer_oldest_event_age_seconds", `component_id="out"`); age <= 0 {
		t.Errorf("oldest event age %v while the sink is down", age)
	}
	// A clean restart in the middle of the outage: the buffer is not
	// drained (the sink is down), it is kept.
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	d = startDrover(t, cfg)
	waitUntil(t, 60*time.Second, "the buffer reopened with the first half", func() bool {
		return d.metric("drover_buffer_events", `component_id="out"`) >= total/2
	})
	writeRange(total/2, total)
	written, purged := lm.state()
	if purged < 10 {
		t.Fatalf("only %d files were purged; the outage did not outlast the rotation window", purged)
	}
	if _, err := os.Stat(lm.path(0)); err == nil {
		t.Fatal("the first log file still exists")
	}
	waitUntil(t, 60*time.Second, "every line in the disk buffer", func() bool {
		return d.metric("drover_buffer_events", `component_id="out"`) >= total
	})
	t.Logf("outage: %d lines written, %d files purged, %v events and %v MiB in the disk buffer",
		len(written), purged, d.metric("drover_buffer_events", `component_id="out"`),
		d.metric("drover_buffer_bytes", `component_id="out"`)/(1<<20))

	recv.up()
	waitUntil(t, 60*time.Second, "every line after the outage", func() bool { return recv.hasAll(written) })
	waitUntil(t, 10*time.Second, "the buffer to empty", func() bool {
		return d.metric("drover_buffer_events", `component_id="out"`) == 0
	})
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	counts, records := recv.snapshot()
	if len(records) != len(written) || len(counts) != len(written) {
		t.Fatalf("received %d records (%d distinct) for %d lines; want each exactly once", len(records), len(counts), len(written))
	}
	if segs, _ := filepath.Glob(filepath.Join(dataDir, "buffer", "out", "*.seg")); len(segs) > 1 {
		t.Errorf("%d segment files left after everything was acknowledged", len(segs))
	}
}

// checkpointCovers reports whether the file source's checkpoint has every
// file of paths at its full size: everything in them was acknowledged to
// the source (by the disk buffer) and persisted.
func checkpointCovers(t *testing.T, dataDir string, paths []string) bool {
	data, err := os.ReadFile(filepath.Join(dataDir, "checkpoints", "file-logs.json"))
	if err != nil {
		return false
	}
	var doc struct {
		State struct {
			Files []struct {
				Path   string `json:"path"`
				Offset int64  `json:"offset"`
			} `json:"files"`
		} `json:"state"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return false
	}
	offsets := map[string]int64{}
	for _, f := range doc.State.Files {
		offsets[f.Path] = f.Offset
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if offsets[p] != info.Size() {
			return false
		}
	}
	return true
}

// slowProxy serves recv's handler with a delay per request, so that
// delivering a backlog takes a while.
func slowProxy(t *testing.T, recv *receiver, delay time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		time.Sleep(delay)
		recv.handle(w, req)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/ingest"
}

// TestDiskBufferSIGKILL kills drover with SIGKILL while it writes lines into
// its disk buffer (the sink is down) and again while it delivers them and
// acknowledges them out of the buffer. Nothing acknowledged to the source is
// lost: once the source's checkpoint covers every line, the log files are
// deleted, so every line that arrives afterwards came from the buffer.
func TestDiskBufferSIGKILL(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("DROVER_E2E_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (rerun with DROVER_E2E_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewSource(seed))

	base := t.TempDir()
	logs := filepath.Join(base, "logs")
	os.MkdirAll(logs, 0o755)
	dataDir := filepath.Join(base, "data")
	recv := newReceiver(t)
	recv.down()
	// A small segment size (max_size/8) makes acknowledgement delete many
	// segments; fsync_interval 50ms makes many group commits.
	cfgDown := writeConfig(t, base, diskBufferConfig(dataDir, []string{logs + "/*.log"}, recv.url(),
		"    max_size = \"16MiB\"\n    fsync_interval = \"50ms\""))

	// Phase 1: the sink is down; two writers log while drover is killed at
	// random moments.
	files := []string{filepath.Join(logs, "a.log"), filepath.Join(logs, "b.log")}
	var want []string
	var wmu sync.Mutex
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for fi, f := range files {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; i < 30000; i += 50 {
				select {
				case <-stop:
					return
				default:
				}
				lines := numbered(fmt.Sprintf("f%d", fi), i, i+50)
				appendLines(t, f, lines...)
				wmu.Lock()
				want = append(want, lines...)
				wmu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()
	d := startDrover(t, cfgDown)
	kills := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(time.Duration(300+rng.Intn(900)) * time.Millisecond):
			d.kill()
			kills++
			d = startDrover(t, cfgDown)
		}
	}
	close(stop)
	waitUntil(t, 60*time.Second, "the source's checkpoint to cover every line", func() bool {
		return checkpointCovers(t, dataDir, files)
	})
	buffered := int(d.metric("drover_buffer_events", `component_id="out"`))
	d.kill()
	kills++
	// Only the disk buffer has the lines now.
	for _, f := range files {
		os.Remove(f)
	}

	// Phase 2: the sink is back but slow; drover is killed while it
	// delivers and acknowledges the backlog.
	cfgUp := writeConfig(t, base, diskBufferConfig(dataDir, []string{logs + "/*.log"}, slowProxy(t, recv, 30*time.Millisecond),
		"    max_size = \"16MiB\"\n    fsync_interval = \"50ms\""))
	d = startDrover(t, cfgUp)
	deliveryKills := 0
	for !recv.hasAll(want) && deliveryKills < 8 {
		time.Sleep(time.Duration(400+rng.Intn(800)) * time.Millisecond)
		if recv.hasAll(want) {
			break
		}
		d.kill()
		deliveryKills++
		d = startDrover(t, cfgUp)
	}
	waitUntil(t, 120*time.Second, "every line", func() bool { return recv.hasAll(want) })
	waitUntil(t, 10*time.Second, "the buffer to empty", func() bool {
		return d.metric("drover_buffer_events", `component_id="out"`) == 0
	})
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	counts, records := recv.snapshot()
	written := map[string]bool{}
	for _, l := range want {
		written[l] = true
	}
	for msg := range counts {
		if !written[msg] {
			t.Errorf("received a line that was never written: %q", msg)
		}
	}
	writeDups, deliveryDups := buffered-len(want), len(records)-buffered
	t.Logf("%d lines; %d kills while writing left %d duplicates in the buffer; %d kills while delivering added %d",
		len(want), kills, writeDups, deliveryKills, deliveryDups)
	if kills < 3 || deliveryKills < 2 {
		t.Errorf("too few kills (%d while writing, %d while delivering) to exercise crash recovery", kills, deliveryKills)
	}
	// What repeats after a kill while writing is what the source read again
	// after its last checkpoint (about a second of writing, 10000 lines; the
	// bound allows for slow restarts and acknowledgements that reach the
	// checkpoint late on a loaded machine: 27600 a kill were seen).
	// After a kill while delivering, it is what the sink had delivered and
	// the buffer not yet persisted as acknowledged (a quarter second of
	// delivery), plus what was in flight (at most the 10000-event window).
	if writeDups < 0 || writeDups > kills*40000 {
		t.Errorf("%d duplicates from kills while writing, want 0..%d", writeDups, kills*40000)
	}
	if deliveryDups < 0 || deliveryDups > deliveryKills*15000 {
		t.Errorf("%d duplicates from kills while delivering, want 0..%d", deliveryDups, deliveryKills*15000)
	}
}
