package nomadlogs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/nomadtest"
	"github.com/drover-dev/drover/internal/tail"
)

func (h *harness) lost(reason string) float64 {
	return testutil.ToFloat64(h.src.losses.Counter(reason))
}

// The checkpoint says whether each stream's position was at its end, and a
// stream collected while drover was down with its position not at its end
// is reported lost at the next start; one at its end is not.
func TestCollectedWhileDownWithUnreadLinesIsReported(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	done := h.addAlloc(nomadtest.Alloc{Job: "done"})
	behind := h.addAlloc(nomadtest.Alloc{Job: "behind"})
	doneOut := newLogmon(t, nomad.LogsDir(h.allocDir, done), "app", nomad.Stdout, 1<<20, 0)
	behindOut := newLogmon(t, nomad.LogsDir(h.allocDir, behind), "app", nomad.Stdout, 1<<20, 0)
	read := append(doneOut.Lines("done", 0, 5, 0), behindOut.Lines("behind", 0, 5, 0)...)
	waitFor(t, "the first lines", func() bool { return h.rec.hasAll(read) })
	h.rec.mu.Lock()
	h.rec.hold = true
	h.rec.mu.Unlock()
	unacked := behindOut.Lines("unacked", 0, 5, 0)
	waitFor(t, "the lines not acknowledged", func() bool { return h.rec.hasAll(unacked) })
	h.rec.releaseHeld(event.Failed)
	h.stop()
	atEnd := map[string]bool{}
	for _, e := range h.checkpointed().Streams {
		if e.Stream == "stdout" {
			if e.AtEnd == nil {
				t.Fatalf("position of %s without at_end", e.AllocID)
			}
			atEnd[e.AllocID] = *e.AtEnd
		}
	}
	if !atEnd[done] || atEnd[behind] {
		t.Fatalf("at_end %v: want true for %s, false for %s", atEnd, done, behind)
	}

	// Both allocations are collected while drover is down.
	h.gc(done)
	h.gc(behind)
	h.start()
	waitFor(t, "the loss to be reported", func() bool { return h.lost(tail.LostGoneWhileDown) == 1 })
	if n := h.logs.count("gone while drover was not running"); n != 1 {
		t.Fatalf("%d reports:\n%s", n, h.logs)
	}
	if h.logs.count("alloc_id="+behind) == 0 || h.logs.count("alloc_id="+done) != 0 {
		t.Errorf("the report names the wrong stream:\n%s", h.logs)
	}
	// Reported once, not at every scan.
	h.stop()
	h.start()
	h.scanNow(h.addAlloc(nomadtest.Alloc{Job: "marker"}))
	if n := h.lost(tail.LostGoneWhileDown); n != 0 {
		t.Errorf("reported again by the next process: %v", n)
	}
}

// A file closed for max_open_files that is written and then deleted (its
// allocation collected) before the source opens it again loses what was
// written: counted with its reason and logged as a warning.
func TestParkedFileWrittenThenDeletedIsReportedLost(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxOpenFiles = 1 })
	h.start()
	// Each attempt parks a stream, writes to it and deletes its
	// allocation at once; the source may read the line in between (then
	// nothing is lost), or look at the parked file after the deletion and
	// before fsnotify's write event reached it (then the write was not
	// seen: vanished, not reported): try again, until the loss is seen.
	for attempt := 0; attempt < 20; attempt++ {
		vanished := h.src.budget.Stats().Vanished
		a := h.addAlloc(nomadtest.Alloc{Job: "a"})
		b := h.addAlloc(nomadtest.Alloc{Job: "b"})
		dirA, dirB := nomad.LogsDir(h.allocDir, a), nomad.LogsDir(h.allocDir, b)
		first := []string{"a first " + a, "b first " + b}
		writeStream(t, dirA, "app", "stdout", 0, first[0]+"\n")
		waitFor(t, "a's first line", func() bool { return h.rec.count(first[0]) == 1 })
		writeStream(t, dirB, "app", "stdout", 0, first[1]+"\n")
		waitFor(t, "b's first line", func() bool { return h.rec.count(first[1]) == 1 })
		// a's file was parked to open b's.
		pathA := filepath.Join(dirA, nomad.LogFileName("app", nomad.Stdout, 0))
		waitFor(t, "a's file parked", func() bool { return !heldOpen(t, pathA) })
		last := "a last " + a
		writeStream(t, dirA, "app", "stdout", 0, last+"\n")
		if err := os.RemoveAll(filepath.Join(h.allocDir, a)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the line read or the file gone", func() bool {
			return h.rec.count(last) == 1 || h.src.budget.Stats().Vanished > vanished
		})
		if h.rec.count(last) == 1 || h.lost(tail.LostWrittenWhileParked) == 0 {
			h.gc(b)
			continue
		}
		if n := h.logs.count("was written and then deleted before drover could open it again"); n != 1 {
			t.Fatalf("the loss is logged %d times:\n%s", n, h.logs)
		}
		return
	}
	t.Fatal("in 20 attempts, the source never saw a write to a parked file deleted before it was read")
}

// A stream whose files are gone when drover starts, with lines its saved
// position had not delivered: the loss is reported with the files that
// held them, the position's file to the newest file drover had seen
// (found by the 10-minute chaos run, seed 5722267812519072636: an
// allocation collected 106 ms after a process started went unreported).
func TestCollectedAsDroverStartsIsReported(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	id := h.addAlloc(nomadtest.Alloc{Job: "batch", JobType: "batch"})
	out := newLogmon(t, nomad.LogsDir(h.allocDir, id), "app", nomad.Stdout, 64, 0)
	first := out.Lines("first", 0, 3, 0)
	waitFor(t, "the first lines", func() bool { return h.rec.hasAll(first) })
	h.rec.mu.Lock()
	h.rec.hold = true
	h.rec.mu.Unlock()
	unacked := out.Lines("unacked", 0, 10, 0)
	waitFor(t, "the lines not acknowledged", func() bool { return h.rec.hasAll(unacked) })
	h.rec.releaseHeld(event.Failed)
	h.stop()
	st := h.checkpointed()
	var e streamState
	for _, x := range st.Streams {
		if x.Stream == "stdout" {
			e = x
		}
	}
	if e.AtEnd == nil || *e.AtEnd || e.LastFile == nil || *e.LastFile != out.Current() {
		t.Fatalf("checkpoint %+v: want not at its end, last file %d", e, out.Current())
	}
	// While drover is down the allocation completes and its files go (its
	// directory stays: drover follows the stream and finds no file).
	h.srv.SetAllocStatus(id, "complete", "run")
	for _, n := range out.Files() {
		if err := os.Remove(out.Path(n)); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	waitFor(t, "the loss reported", func() bool { return h.lost(tail.LostGoneWhileDown) == 1 })
	want := fmt.Sprintf("first_file=%d last_file=%d reason=", e.File, out.Current())
	if h.logs.count("task log files were deleted before drover read them") != 1 || h.logs.count(want) != 1 {
		t.Fatalf("the loss is not reported with its files (%s):\n%s", want, lastLines(h.logs.String(), 20))
	}
}
