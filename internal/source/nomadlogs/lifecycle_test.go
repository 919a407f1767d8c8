package nomadlogs

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/nomadtest"
)

// streamsIn returns the streams gauge of a state.
func (h *harness) streamsIn(state string) float64 {
	return testutil.ToFloat64(h.src.sm.streams.WithLabelValues(state))
}

func (h *harness) filesOpen() float64 { return testutil.ToFloat64(h.m.FilesOpen) }

func TestTerminalAllocationDrainedAndReleased(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	id := h.addAlloc(nomadtest.Alloc{Job: "worker"})
	dir := nomad.LogsDir(h.allocDir, id)
	out := newLogmon(t, dir, "app", nomad.Stdout, 4096, 0)
	errs := newLogmon(t, dir, "app", nomad.Stderr, 4096, 0)
	want := out.Lines("out", 0, 100, 10)
	waitFor(t, "the first lines", func() bool { return h.rec.hasAll(want) })

	// The task writes its last lines, without a final newline, as the
	// client reports the allocation complete.
	want = append(want, out.Lines("out", 100, 500, 50)...)
	want = append(want, errs.Lines("err", 0, 300, 50)...)
	out.Write([]byte("no newline at the end"))
	h.srv.SetAllocStatus(id, "complete", "run")
	waitFor(t, "every line", func() bool { return h.rec.hasAll(append(want, "no newline at the end")) })
	waitFor(t, "the streams to be released", func() bool {
		return h.filesOpen() == 0 && h.streamsIn(stateReading)+h.streamsIn(stateFinishing) == 0
	})
	last, _ := h.rec.find("no newline at the end")
	if last.flags != event.Partial {
		t.Errorf("last line flags %v, want partial", last.flags)
	}
	for _, m := range want {
		if n := h.rec.count(m); n != 1 {
			t.Fatalf("%q arrived %d times", m, n)
		}
	}
	// A new group for the allocation does not read it again.
	updates := testutil.ToFloat64(h.src.dm.GroupUpdates)
	h.srv.UpdateAlloc(id, func(a *nomadtest.Alloc) { a.JobMeta = map[string]string{"changed": "yes"} })
	waitFor(t, "the changed group", func() bool { return testutil.ToFloat64(h.src.dm.GroupUpdates) > updates })
	before := len(h.rec.all())
	time.Sleep(3 * h.cfg.TerminalIdle) // longer than a release takes: nothing must be read
	if n := len(h.rec.all()); n != before || h.filesOpen() != 0 {
		t.Fatalf("events %d -> %d, files open %v after the allocation changed", before, n, h.filesOpen())
	}

	// Nor does a restart.
	h.stop()
	n := len(h.rec.all())
	h.start()
	waitFor(t, "the restarted source to see the allocation", func() bool {
		return h.logs.count("task stream read to its end; released") == 2
	})
	if got := len(h.rec.all()); got != n {
		t.Fatalf("a restart read %d lines of a released stream again", got-n)
	}
}

func TestBatchAllocationBetweenTwoPolls(t *testing.T) {
	// The watch never sees the allocation running: it starts, writes and
	// completes before the API reports it, already complete.
	h := newHarness(t, func(c *Config) { c.UnknownAllocWait = time.Minute })
	h.start()
	waitFor(t, "the first watch", func() bool { return h.srv.Blocking() > 0 })
	spec := nomadtest.Alloc{ID: nomadtest.NewID(), Job: "report", JobType: "batch", ClientStatus: "complete"}
	dir := h.makeAllocDir(spec.ID, nil)
	out := newLogmon(t, dir, "app", nomad.Stdout, 1024, 0)
	want := out.Lines("batch", 0, 200, 20)
	h.srv.AddAlloc(spec)
	waitFor(t, "every line", func() bool { return h.rec.hasAll(want) })
	for _, m := range want {
		e, _ := h.rec.find(m)
		if h.rec.count(m) != 1 || e.field("nomad.job_name") != "report" || e.field("nomad.job_type") != "batch" {
			t.Fatalf("%q: %d times, job %q type %q", m, h.rec.count(m), e.field("nomad.job_name"), e.field("nomad.job_type"))
		}
	}
	waitFor(t, "the streams to be released", func() bool { return h.filesOpen() == 0 })
}

func TestGarbageCollectedWhileBehind(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	id := h.addAlloc(nomadtest.Alloc{})
	dir := nomad.LogsDir(h.allocDir, id)
	out := newLogmon(t, dir, "app", nomad.Stdout, 32<<10, 3)
	want := out.Lines("first", 0, 10, 0)
	waitFor(t, "the first lines", func() bool { return h.rec.hasAll(want) })
	h.rec.block()
	for i := 0; i < 6; i++ {
		want = append(want, out.Lines("behind-the-sink-line-with-padding", i*1000, (i+1)*1000, 200)...)
		newest := out.Path(out.Current())
		waitFor(t, "the newest file to be held open", func() bool { return heldOpen(t, newest) })
	}
	h.srv.SetAllocStatus(id, "complete", "stop")
	h.gc(id)
	h.rec.unblock()
	waitFor(t, "every line written before the garbage collection", func() bool { return h.rec.hasAll(want) })
	waitFor(t, "the deleted files to be closed", func() bool { return h.filesOpen() == 0 })
	if n := len(h.rec.all()); n != len(want) {
		t.Fatalf("%d events for %d lines", n, len(want))
	}
	if v := testutil.ToFloat64(h.m.Errors("purged")); v != 0 {
		t.Errorf("purged = %v", v)
	}
}

func TestGarbageCollectedUnknownToTheAPI(t *testing.T) {
	// The directory goes away while the API is unreachable: the open
	// files are read to their end with path metadata and released.
	h := newHarness(t, nil)
	h.start()
	waitFor(t, "the first watch", func() bool { return h.srv.Blocking() > 0 })
	h.srv.Down()
	id := nomadtest.NewID()
	out := newLogmon(t, h.makeAllocDir(id, nil), "app", nomad.Stdout, 1<<20, 0)
	want := out.Lines("orphan", 0, 50, 0)
	waitFor(t, "the file to be held open", func() bool { return heldOpen(t, out.Path(0)) })
	if err := removeAll(h.allocDir, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every line", func() bool { return h.rec.hasAll(want) })
	e, _ := h.rec.find("orphan-000000")
	if e.field("nomad.alloc_id") != id || e.field("nomad.task_name") != "app" || e.field("nomad.job_name") != "" {
		t.Errorf("path metadata: alloc %q task %q job %q", e.field("nomad.alloc_id"), e.field("nomad.task_name"), e.field("nomad.job_name"))
	}
	waitFor(t, "the stream to be released", func() bool { return h.filesOpen() == 0 })
	h.srv.Up()
}

func TestDeselectedTaskStopsAndResumes(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	id := h.addAlloc(nomadtest.Alloc{Tasks: []nomadtest.Task{{Name: "app"}}})
	out := newLogmon(t, nomad.LogsDir(h.allocDir, id), "app", nomad.Stdout, 1<<20, 0)
	want := out.Lines("on", 0, 20, 0)
	waitFor(t, "the first lines", func() bool { return h.rec.hasAll(want) })

	h.srv.UpdateAlloc(id, func(a *nomadtest.Alloc) { a.JobMeta = map[string]string{"drover.enabled": "false"} })
	waitFor(t, "the stream to stop", func() bool { return h.filesOpen() == 0 })
	off := out.Lines("off", 0, 20, 0)
	time.Sleep(3 * h.cfg.ScanInterval) // several scans: nothing must be read
	for _, m := range off {
		if h.rec.count(m) != 0 {
			t.Fatalf("%q shipped while the job opted out", m)
		}
	}
	h.srv.UpdateAlloc(id, func(a *nomadtest.Alloc) { a.JobMeta = nil })
	// It resumes where it stopped: the lines written meanwhile arrive.
	more := out.Lines("on", 20, 40, 0)
	waitFor(t, "the lines after re-enabling", func() bool { return h.rec.hasAll(append(off, more...)) })
	for _, m := range append(want, more...) {
		if n := h.rec.count(m); n != 1 {
			t.Fatalf("%q arrived %d times", m, n)
		}
	}
}
