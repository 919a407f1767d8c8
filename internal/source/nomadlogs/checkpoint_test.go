package nomadlogs

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/nomadtest"
	"github.com/drover-dev/drover/internal/source/reading"
)

// checkpointed returns the saved state.
func (h *harness) checkpointed() state {
	h.t.Helper()
	raw, err := os.ReadFile(h.src.CheckpointPath())
	if err != nil {
		h.t.Fatal(err)
	}
	var env struct {
		Version int   `json:"version"`
		State   state `json:"state"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Version != stateVersion {
		h.t.Fatalf("checkpoint %s: version %d, %v", raw, env.Version, err)
	}
	return env.State
}

func TestRestartResumesAcrossRotations(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	id := h.addAlloc(nomadtest.Alloc{})
	out := newLogmon(t, nomad.LogsDir(h.allocDir, id), "app", nomad.Stdout, 2048, 5)
	want := out.Lines("before", 0, 300, 30)
	waitFor(t, "the lines before the restart", func() bool { return h.rec.hasAll(want) })
	h.stop()
	st := h.checkpointed()
	if len(st.Streams) != 1 || st.Streams[0].AllocID != id || st.Streams[0].Task != "app" ||
		st.Streams[0].Stream != "stdout" || st.Streams[0].File != out.Current() {
		t.Fatalf("checkpoint %+v, want app/stdout in file %d", st.Streams, out.Current())
	}

	// While drover is down the task rotates twice more (nothing purged
	// that was not read: max_files is 5).
	more := out.Lines("while-down", 0, 100, 10)
	h.start()
	more = append(more, out.Lines("after", 0, 100, 10)...)
	waitFor(t, "the lines after the restart", func() bool { return h.rec.hasAll(more) })
	for _, m := range append(want, more...) {
		if n := h.rec.count(m); n != 1 {
			t.Fatalf("%q arrived %d times", m, n)
		}
	}
}

func TestPurgedWhileDownIsCounted(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	id := h.addAlloc(nomadtest.Alloc{})
	out := newLogmon(t, nomad.LogsDir(h.allocDir, id), "app", nomad.Stdout, 1024, 2)
	first := out.Lines("first", 0, 10, 0)
	waitFor(t, "the first lines", func() bool { return h.rec.hasAll(first) })
	h.stop()
	// Several files written and purged while drover is down.
	lost := out.Lines("lost-while-down", 0, 400, 40)
	kept := out.Lines("kept", 0, 30, 0)
	h.start()
	waitFor(t, "the lines of the files left", func() bool { return h.rec.hasAll(kept) })
	if v := testutil.ToFloat64(h.m.Errors("purged")); v < 1 {
		t.Errorf("purged = %v", v)
	}
	if h.logs.count("deleted before drover read them") == 0 {
		t.Error("the loss is not logged")
	}
	if h.rec.count(lost[0]) != 0 {
		t.Errorf("%q from a purged file arrived", lost[0])
	}
}

func TestJoinedLineNotAcknowledgedIsReadAgain(t *testing.T) {
	// The line split across files 0 and 1 is not acknowledged when drover
	// stops: the checkpoint stays at its start in file 0.
	h := newHarness(t, nil)
	h.start()
	id := h.addAlloc(nomadtest.Alloc{})
	out := newLogmon(t, nomad.LogsDir(h.allocDir, id), "app", nomad.Stdout, 20, 0)
	out.Write([]byte("complete\n"))
	waitFor(t, "the first line", func() bool { return h.rec.count("complete") == 1 })
	h.rec.mu.Lock()
	h.rec.hold = true
	h.rec.mu.Unlock()
	out.Write([]byte("split over two files\n"))
	waitFor(t, "the joined line", func() bool { return h.rec.count("split over two files") == 1 })
	h.rec.releaseHeld(event.Failed)
	h.stop()
	st := h.checkpointed()
	if len(st.Streams) != 1 || st.Streams[0].File != 0 || st.Streams[0].Offset != int64(len("complete\n")) {
		t.Fatalf("checkpoint %+v, want file 0 at the start of the split line", st.Streams)
	}
	h.start()
	waitFor(t, "the joined line again", func() bool { return h.rec.count("split over two files") == 2 })
	if n := h.rec.count("complete"); n != 1 {
		t.Errorf("the line before arrived %d times", n)
	}
	out.Write([]byte("next\n"))
	waitFor(t, "the next line", func() bool { return h.rec.count("next") == 1 })
	h.stop()
	if st := h.checkpointed(); len(st.Streams) != 1 || st.Streams[0].File != out.Current() {
		t.Fatalf("checkpoint %+v, want the last file %d once all is acknowledged", st.Streams, out.Current())
	}
}

func TestReadFromEndOnFirstStart(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ReadFrom = reading.FromEnd })
	id := h.addAlloc(nomadtest.Alloc{})
	out := newLogmon(t, nomad.LogsDir(h.allocDir, id), "app", nomad.Stdout, 1<<20, 0)
	old := out.Lines("old", 0, 10, 0)
	h.start()
	waitFor(t, "the file to be held open", func() bool { return heldOpen(t, out.Path(0)) })
	// A stream that appears later is read from its beginning.
	id2 := h.addAlloc(nomadtest.Alloc{})
	out2 := newLogmon(t, nomad.LogsDir(h.allocDir, id2), "app", nomad.Stdout, 1<<20, 0)
	want := append(out.Lines("new", 0, 10, 0), out2.Lines("second", 0, 10, 0)...)
	waitFor(t, "the new lines", func() bool { return h.rec.hasAll(want) })
	if h.rec.count(old[0]) != 0 {
		t.Errorf("a line written before the first start was read")
	}
	// The checkpoint exists now: read_from does not apply to a restart.
	h.stop()
	id3 := h.addAlloc(nomadtest.Alloc{})
	out3 := newLogmon(t, nomad.LogsDir(h.allocDir, id3), "app", nomad.Stdout, 1<<20, 0)
	third := out3.Lines("third", 0, 10, 0)
	h.start()
	waitFor(t, "the lines of an allocation started while drover was down", func() bool { return h.rec.hasAll(third) })
}

func TestCorruptCheckpointStartsOver(t *testing.T) {
	h := newHarness(t, nil)
	if err := os.MkdirAll(h.dataDir+"/checkpoints", 0o750); err != nil {
		t.Fatal(err)
	}
	path := h.dataDir + "/checkpoints/nomad_logs-tasks.json"
	if err := os.WriteFile(path, []byte("{torn"), 0o640); err != nil {
		t.Fatal(err)
	}
	id := h.addAlloc(nomadtest.Alloc{})
	out := newLogmon(t, nomad.LogsDir(h.allocDir, id), "app", nomad.Stdout, 1<<20, 0)
	want := out.Lines("line", 0, 10, 0)
	h.start()
	waitFor(t, "every line", func() bool { return h.rec.hasAll(want) })
	if v := testutil.ToFloat64(h.m.Errors("checkpoint")); v != 1 {
		t.Errorf("checkpoint errors = %v", v)
	}
	if !strings.Contains(h.logs.String(), "streams are read from their beginning") {
		t.Error("the unusable checkpoint is not logged")
	}
}
