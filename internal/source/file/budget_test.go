package file

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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/tail"
)

// gaugePeak samples a gauge every millisecond and keeps its highest
// value: the budget updates files_open at every open and close, on the
// source's goroutine.
type gaugePeak struct {
	g    prometheus.Gauge
	peak atomic.Int64
	stop chan struct{}
	done sync.WaitGroup
}

func sampleGauge(g prometheus.Gauge) *gaugePeak {
	s := &gaugePeak{g: g, stop: make(chan struct{})}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(time.Millisecond):
			}
			if n := int64(testutil.ToFloat64(g)); n > s.peak.Load() {
				s.peak.Store(n)
			}
		}
	}()
	return s
}

func (s *gaugePeak) finish() int64 {
	close(s.stop)
	s.done.Wait()
	return s.peak.Load()
}

// openBelow counts this process's read-only descriptors on files below
// dir (the test's own writes are not the source's). The listing is not
// atomic: call it while the source is idle.
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

// 2000 files followed with max_open_files = 100: never more than 100 of
// them open, every line delivered (those written before the start, and
// those written later to files that were closed meanwhile), and no file
// opened beyond the budget.
func TestTwoThousandFilesWithinTheBudget(t *testing.T) {
	const files, budget = 2000, 100
	dir := t.TempDir()
	var want []string
	for i := 0; i < files; i++ {
		lines, text := numbered(fmt.Sprintf("f%04d", i), 0, 3)
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%04d.log", i)), text)
		want = append(want, lines...)
	}
	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.MaxOpenFiles = budget
	h := newHarness(t, t.TempDir(), cfg, newRecorder())
	gauge := sampleGauge(h.m.FilesOpen)
	h.start()
	defer h.stop()
	waitFor(t, "every line written before the start", func() bool { return h.rec.total() >= len(want) })

	// Lines appended to files that were closed to stay within the budget
	// arrive: the files are reopened by identity, at their offset.
	rng := rand.New(rand.NewPCG(1, 2))
	later := map[string]string{}
	for len(later) < 300 {
		i := rng.IntN(files)
		p := filepath.Join(dir, fmt.Sprintf("f%04d.log", i))
		if _, ok := later[p]; ok {
			continue
		}
		later[p] = fmt.Sprintf("later %04d", i)
		appendFile(t, p, later[p]+"\n")
	}
	for p, line := range later {
		waitLines(t, h.rec, p, append(h.rec.msgs(p)[:3:3], line))
	}
	peak := gauge.finish()
	st := h.src.budget.Stats()
	t.Logf("peak of %d open files of %d; %+v", peak, files, st)
	if peak > budget {
		t.Errorf("%d files open at once, budget %d", peak, budget)
	}
	// The count is the truth: now that the source is idle, the process
	// holds exactly that many files open.
	if got, open := testutil.ToFloat64(h.m.FilesOpen), openBelow(t, dir); int(got) != open || open > budget {
		t.Errorf("files_open = %v, open files %d", got, open)
	}
	if h.rec.total() != len(want)+len(later) {
		t.Errorf("%d lines delivered, want %d (no duplicates)", h.rec.total(), len(want)+len(later))
	}
	if st.Over != 0 || st.Parked == 0 || st.Reopened == 0 {
		t.Errorf("budget counts %+v: want files parked and reopened, none over the budget", st)
	}
}

// A file closed by max_open_files, then written a last time and rotated
// away (renamed out of the patterns, a new file in its place): the old
// file is found again by identity in its directory and read to its end,
// the new one from its beginning.
func TestParkedFileRotatedAwayIsReadToItsEnd(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	writeFile(t, a, "a first\n")
	writeFile(t, b, "b first\n")
	cfg := testConfig(a, b) // a.log.1 does not match
	cfg.MaxOpenFiles = 1
	h := newHarness(t, t.TempDir(), cfg, newRecorder()).start()
	defer h.stop()
	waitLines(t, h.rec, a, []string{"a first"})
	waitLines(t, h.rec, b, []string{"b first"})
	// With room for one file, a.log was read first, then parked for b.log.
	appendFile(t, b, "b second\n")
	waitLines(t, h.rec, b, []string{"b first", "b second"})
	if st := h.src.budget.Stats(); st.Parked == 0 {
		t.Fatalf("nothing parked: %+v", st)
	}

	appendFile(t, a, "a last\n")
	if err := os.Rename(a, a+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, a, "a new\n")
	waitLines(t, h.rec, a, []string{"a first", "a last", "a new"})
	if st := h.src.budget.Stats(); st.Vanished != 0 || st.Reopened == 0 {
		t.Errorf("budget counts %+v", st)
	}
}

// A file closed by max_open_files that is written and then deleted before
// the source opens it again loses what was written: counted with its
// reason and logged as a warning.
func TestParkedFileWrittenThenDeletedIsReportedLost(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.MaxOpenFiles = 1
	h := newHarness(t, t.TempDir(), cfg, newRecorder()).start()
	defer h.stop()
	lost := func() float64 { return testutil.ToFloat64(h.src.losses.Counter(tail.LostWrittenWhileParked)) }
	// Each attempt parks a file, writes to it and deletes it at once; the
	// source may read the line in between (then nothing is lost), or look
	// at the parked file after the deletion and before fsnotify's write
	// event reached it (then the write was not seen: vanished, not
	// reported): try again, until the loss is seen.
	for attempt := 0; attempt < 20; attempt++ {
		vanished := h.src.budget.Stats().Vanished
		a, b := filepath.Join(dir, fmt.Sprintf("a%d.log", attempt)), filepath.Join(dir, fmt.Sprintf("b%d.log", attempt))
		writeFile(t, a, "a first\n")
		waitLines(t, h.rec, a, []string{"a first"})
		writeFile(t, b, "b first\n")
		waitLines(t, h.rec, b, []string{"b first"})
		waitFor(t, "a parked", func() bool { return h.src.budget.Stats().Parked > int64(attempt) })
		appendFile(t, a, "a last\n")
		if err := os.Remove(a); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the line read or the file gone", func() bool {
			return h.rec.count(a) == 2 || h.src.budget.Stats().Vanished > vanished
		})
		if err := os.Remove(b); err != nil {
			t.Fatal(err)
		}
		if h.rec.count(a) == 2 || lost() == 0 {
			continue
		}
		if n := h.logs.count("was written and then deleted before drover could open it again"); n != 1 {
			t.Fatalf("the loss is logged %d times:\n%s", n, h.logs)
		}
		return
	}
	t.Fatal("in 20 attempts, the source never saw a write to a parked file deleted before it was read")
}

// A file with lines drover had not delivered, deleted while drover was not
// running, is reported at the next start; one read to its end is not.
func TestDeletedWhileDownWithUnreadLinesIsReported(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	done, behind := filepath.Join(dir, "done.log"), filepath.Join(dir, "behind.log")
	writeFile(t, done, "d1\n")
	writeFile(t, behind, "b1\n")
	cfg := testConfig(filepath.Join(dir, "*.log"))
	rec := newRecorder()
	h := newHarness(t, data, cfg, rec).start()
	waitLines(t, rec, done, []string{"d1"})
	waitLines(t, rec, behind, []string{"b1"})
	rec.mu.Lock()
	rec.hold = true
	rec.mu.Unlock()
	appendFile(t, behind, "b2\n")
	waitLines(t, rec, behind, []string{"b1", "b2"})
	rec.releaseHeld(event.Failed, false)
	h.stop()
	for _, p := range []string{done, behind} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	h2 := newHarness(t, data, cfg, newRecorder()).start()
	defer h2.stop()
	lost := func() float64 { return testutil.ToFloat64(h2.src.losses.Counter(tail.LostGoneWhileDown)) }
	waitFor(t, "the loss reported", func() bool { return lost() == 1 })
	if n := h2.logs.count("while drover was not running"); n != 1 || !strings.Contains(h2.logs.String(), "behind.log") {
		t.Fatalf("%d reports:\n%s", n, h2.logs)
	}
}
