package nomadlogs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/nomadtest"
	"github.com/drover-dev/drover/internal/source/reading"
)

// peakOf samples files_open every millisecond (the budget updates it at
// every open and close, on the source's goroutine) and returns a function
// that stops and returns the highest value.
func peakOf(h *harness) func() int {
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			if n := int64(h.filesOpen()); n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	return func() int {
		close(stop)
		wg.Wait()
		return int(peak.Load())
	}
}

// openBelow counts this process's read-only descriptors on files below
// dir. The listing is not atomic: call it while the source is idle.
func openBelow(t testing.TB, dir string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list open files: %v", err)
	}
	n := 0
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || !strings.HasPrefix(target, dir+string(filepath.Separator)) {
			continue
		}
		// Directories listed by a scan are not files the budget holds.
		if fi, err := os.Stat(filepath.Join("/proc/self/fd", e.Name())); err != nil || fi.IsDir() {
			continue
		}
		info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				if flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64); err == nil && flags&syscall.O_ACCMODE == syscall.O_RDONLY {
					n++
				}
			}
		}
	}
	return n
}

// 2000 task streams (250 allocations x 4 tasks x stdout, stderr) followed
// with max_open_files = 100: never more than 100 files open, every line
// delivered exactly once (those written before the start, those written
// later to streams whose file was parked, and those of a stream that
// rotated while parked), and no file opened beyond the budget.
func TestTwoThousandStreamsWithinTheBudget(t *testing.T) {
	const allocs, tasks, budget = 250, 4, 100
	h := newHarness(t, func(c *Config) {
		c.MaxOpenFiles = budget
		// The defaults: with thousands of streams, a scan and a checkpoint
		// are not free (and tests run with -race on busy machines).
		c.ScanInterval = DefaultScanInterval
		c.CheckpointInterval = reading.DefaultCheckpointInterval
	})
	type streamFile struct{ dir, task, stream string }
	var streams []streamFile
	var want []string
	for a := 0; a < allocs; a++ {
		var ts []nomadtest.Task
		for i := 0; i < tasks; i++ {
			ts = append(ts, nomadtest.Task{Name: fmt.Sprintf("t%d", i)})
		}
		id := h.addAlloc(nomadtest.Alloc{Tasks: ts})
		dir := nomad.LogsDir(h.allocDir, id)
		for _, task := range ts {
			for _, stream := range []string{"stdout", "stderr"} {
				sf := streamFile{dir, task.Name, stream}
				line := fmt.Sprintf("%d %s %s first", a, task.Name, stream)
				writeStream(t, sf.dir, sf.task, sf.stream, 0, line+"\n")
				streams = append(streams, sf)
				want = append(want, line)
			}
		}
	}
	h.start()
	peak := peakOf(h)
	waitLong(t, "every line written before the start", func() bool { return h.rec.hasAll(want) })

	// Lines written later to streams whose file was parked arrive.
	rng := rand.New(rand.NewPCG(3, 4))
	for i, k := range rng.Perm(len(streams))[:300] {
		sf := streams[k]
		line := fmt.Sprintf("later %d", i)
		writeStream(t, sf.dir, sf.task, sf.stream, 0, line+"\n")
		want = append(want, line)
	}
	// One stream rotates while its file is parked: file 0 gets its last
	// line, file 1 the next.
	sf := streams[7]
	writeStream(t, sf.dir, sf.task, sf.stream, 0, "last of file 0\n")
	writeStream(t, sf.dir, sf.task, sf.stream, 1, "first of file 1\n")
	want = append(want, "last of file 0", "first of file 1")
	waitLong(t, "every line written later", func() bool { return h.rec.hasAll(want) })

	top := peak()
	st := h.src.budget.Stats()
	t.Logf("peak of %d open files for %d streams; %+v", top, len(streams), st)
	if top > budget {
		t.Errorf("%d files open at once, budget %d", top, budget)
	}
	if got, open := int(h.filesOpen()), openBelow(t, h.allocDir); got != open || open > budget {
		t.Errorf("files_open = %d, open files %d", got, open)
	}
	for _, m := range want {
		if n := h.rec.count(m); n != 1 {
			t.Errorf("%q arrived %d times", m, n)
		}
	}
	if st.Over != 0 || st.Parked == 0 || st.Reopened == 0 {
		t.Errorf("budget counts %+v: want files parked and reopened, none over the budget", st)
	}
	if v := testutil.ToFloat64(h.m.Errors("purged")); v != 0 {
		t.Errorf("purged = %v", v)
	}
}

// writeStream appends content to file n of a task stream.
func writeStream(t *testing.T, dir, task, stream string, n int, content string) {
	t.Helper()
	p := filepath.Join(dir, nomad.LogFileName(task, nomad.Stream(stream), uint64(n)))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitLong is waitFor for work that scales with thousands of streams.
func waitLong(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(6 * waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With room for one file, a stream whose file was parked is reopened to
// read its last lines when its allocation completes, and released.
func TestParkedStreamIsReadToItsEndWhenTerminal(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxOpenFiles = 1 })
	a := h.addAlloc(nomadtest.Alloc{Job: "a"})
	b := h.addAlloc(nomadtest.Alloc{Job: "b"})
	dirA, dirB := nomad.LogsDir(h.allocDir, a), nomad.LogsDir(h.allocDir, b)
	writeStream(t, dirA, "app", "stdout", 0, "a first\n")
	writeStream(t, dirB, "app", "stdout", 0, "b first\n")
	h.start()
	waitFor(t, "the first lines", func() bool { return h.rec.hasAll([]string{"a first", "b first"}) })
	writeStream(t, dirB, "app", "stdout", 0, "b second\n")
	waitFor(t, "b's second line", func() bool { return h.rec.count("b second") == 1 })

	writeStream(t, dirA, "app", "stdout", 0, "a last\n")
	h.srv.SetAllocStatus(a, "complete", "run")
	waitFor(t, "a's last line", func() bool { return h.rec.count("a last") == 1 })
	waitFor(t, "a's stream to be released", func() bool {
		return h.logs.count(`released" alloc_id=`+a+" task=app stream=stdout") == 1
	})
	if st := h.src.budget.Stats(); st.Parked == 0 || st.Over != 0 {
		t.Errorf("budget counts %+v", st)
	}
	if n := h.filesOpen(); n > 1 {
		t.Errorf("%v files open", n)
	}
}

// With room for one file, a stream reading file 0, which ends with the
// head of a line, must open file 1 to go on: it does, beyond the budget,
// instead of waiting for room that file 0 (holding the head) can never
// give. And its allocation completing does not release it with the line
// cut in two.
func TestNextFileOfAStreamNeverWaitsForRoom(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxOpenFiles = 1 })
	id := h.addAlloc(nomadtest.Alloc{})
	dir := nomad.LogsDir(h.allocDir, id)
	writeStream(t, dir, "app", "stdout", 0, "first\nhead of a split line, ")
	h.start()
	waitFor(t, "the first line", func() bool { return h.rec.count("first") == 1 })
	writeStream(t, dir, "app", "stdout", 1, "its rest\nsecond\n")
	waitFor(t, "the joined line", func() bool { return h.rec.count("head of a split line, its rest") == 1 })
	h.srv.SetAllocStatus(id, "complete", "run")
	waitFor(t, "the last line", func() bool { return h.rec.count("second") == 1 })
	for _, e := range h.rec.all() {
		if e.flags != 0 {
			t.Errorf("%q arrived flagged %v", e.msg, e.flags)
		}
	}
	if st := h.src.budget.Stats(); st.Over == 0 {
		t.Errorf("budget counts %+v: file 1 must have been opened beyond the budget", st)
	}
}
