package nomadlogs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/nomadtest"
	"github.com/drover-dev/drover/internal/source/reading"
	"github.com/drover-dev/drover/internal/tail"
)

// writeLog creates or appends to file n of the stream.
func writeLog(t *testing.T, dir string, n int, content string) {
	t.Helper()
	p := filepath.Join(dir, nomad.LogFileName("app", nomad.Stdout, uint64(n)))
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

// scanNow makes the source scan the allocation's directory: a changed
// allocation is scanned when discovery reports it.
func (h *harness) scanNow(id string) {
	h.t.Helper()
	before := testutil.ToFloat64(h.src.dm.GroupUpdates)
	h.srv.UpdateAlloc(id, func(a *nomadtest.Alloc) { a.JobMeta = map[string]string{"at": time.Now().String()} })
	waitFor(h.t, "the changed group", func() bool { return testutil.ToFloat64(h.src.dm.GroupUpdates) > before })
}

// A line split across files N and N+1 whose N+1 was created and purged
// between two scans: the source used to hand the held head over to the
// first file after the gap, joining it with the rest of another line
// ("#6.53# head" + "rest of line 1426"), and its checkpoint then moved
// past lines it had not delivered. Now the head goes out on its own,
// flagged partial, and the file after the gap starts fresh.
func TestSplitLineBeforeAGapIsNotJoinedAcrossIt(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.ScanInterval = time.Hour // scans only when the test says
		c.UseFsnotify = false
	})
	id := h.addAlloc(nomadtest.Alloc{})
	dir := nomad.LogsDir(h.allocDir, id)
	writeLog(t, dir, 0, "first\nhead of a split line, ")
	h.start()
	waitFor(t, "the first line", func() bool { return h.rec.count("first") == 1 })

	// logmon rotates three times while the source does not look: file 1
	// (the rest of the split line) is purged, file 2 starts with the rest
	// of another split line.
	writeLog(t, dir, 1, "rest of the split line\nin file one\nhead of another, ")
	writeLog(t, dir, 2, "rest of another\nin file two\n")
	if err := os.Remove(filepath.Join(dir, nomad.LogFileName("app", nomad.Stdout, 1))); err != nil {
		t.Fatal(err)
	}
	h.scanNow(id)
	waitFor(t, "the lines of file 2", func() bool { return h.rec.count("in file two") == 1 })

	head, ok := h.rec.find("head of a split line, ")
	if !ok || head.flags != event.Partial {
		t.Fatalf("the head before the gap: found %v, flags %v; want it flagged partial", ok, head.flags)
	}
	if rest, ok := h.rec.find("rest of another"); !ok || rest.flags != 0 {
		t.Fatalf("the first line after the gap: found %v, flags %v", ok, rest.flags)
	}
	for _, e := range h.rec.all() {
		if e.msg == "head of a split line, rest of another" {
			t.Fatalf("the head before the gap was joined with the rest of another line")
		}
	}
	if v := testutil.ToFloat64(h.m.Errors("purged")); v != 1 {
		t.Errorf("purged = %v, want 1", v)
	}

	// Everything is acknowledged: a restart reads nothing again.
	h.stop()
	before := len(h.rec.all())
	h.start()
	writeLog(t, dir, 2, "after the restart\n")
	waitFor(t, "the line after the restart", func() bool { return h.rec.count("after the restart") == 1 })
	if n := len(h.rec.all()) - before; n != 1 {
		t.Fatalf("%d events after the restart, want 1: %v", n, h.rec.all()[before:])
	}
}

// A stream the source first sees after its first files were purged (it
// started while drover was down and rotated past max_files) lost those
// files: that is logged and counted like any other purge, not silent.
func TestNewStreamWithoutItsFirstFilesIsCountedAsLost(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	seen := h.addAlloc(nomadtest.Alloc{})
	writeLog(t, nomad.LogsDir(h.allocDir, seen), 0, "seen\n")
	waitFor(t, "the first stream", func() bool { return h.rec.count("seen") == 1 })
	h.stop()

	id := h.addAlloc(nomadtest.Alloc{})
	dir := nomad.LogsDir(h.allocDir, id)
	writeLog(t, dir, 3, "kept\n") // files 0-2 are gone
	h.start()
	waitFor(t, "the lines of the files left", func() bool { return h.rec.count("kept") == 1 })
	if v := testutil.ToFloat64(h.m.Errors("purged")); v != 3 {
		t.Errorf("purged = %v, want 3", v)
	}
	if h.logs.count("created and purged before drover saw the stream") != 1 {
		t.Errorf("the loss is not logged:\n%s", h.logs.String())
	}
}

// On the very first start, files purged before drover existed are not
// drover's loss: nothing is reported.
func TestFirstStartDoesNotReportOldPurges(t *testing.T) {
	h := newHarness(t, nil)
	id := h.addAlloc(nomadtest.Alloc{})
	writeLog(t, nomad.LogsDir(h.allocDir, id), 7, "old task\n")
	h.start()
	waitFor(t, "the lines of the files left", func() bool { return h.rec.count("old task") == 1 })
	if v := testutil.ToFloat64(h.m.Errors("purged")); v != 0 {
		t.Errorf("purged = %v, want 0", v)
	}
}

// crash ends Run without Close: nothing is saved, as when drover is
// killed.
func (h *harness) crash() {
	h.t.Helper()
	h.cancel()
	h.cancel = nil
	select {
	case <-h.done:
	case <-time.After(waitTimeout):
		h.t.Fatal("Run did not return after cancel")
	}
}

// A crash before the first periodic save used to leave no checkpoint, so
// that the next start was a first start again: read_from = "end" then
// skipped everything written since the first start. The positions are
// saved as soon as the first scan has decided them.
func TestCrashBeforeTheFirstSaveIsNotAFirstStart(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.ReadFrom = reading.FromEnd
		c.CheckpointInterval = time.Hour
	})
	id := h.addAlloc(nomadtest.Alloc{})
	dir := nomad.LogsDir(h.allocDir, id)
	writeLog(t, dir, 0, "before drover\n")
	h.start()
	waitFor(t, "the file to be followed", func() bool { return h.filesOpen() == 1 })
	writeLog(t, dir, 0, "after the start\n")
	waitFor(t, "the line after the start", func() bool { return h.rec.count("after the start") == 1 })
	h.crash()
	writeLog(t, dir, 0, "while drover is down\n")
	h.start()
	waitFor(t, "the line written while drover was down", func() bool { return h.rec.count("while drover is down") == 1 })
	if h.rec.count("before drover") != 0 {
		t.Error("read_from = \"end\" was not applied at the first start")
	}
}

// Files deleted while the source holds them open unread (garbage
// collection while the sink is down) are lost when it stops: only the
// descriptor kept them. That used to be silent; it is logged and counted.
func TestStoppingWithUnreadDeletedFilesReportsTheLoss(t *testing.T) {
	h, id := startBehindABlockedSink(t)
	waitFor(t, "the file to be opened", func() bool { return h.filesOpen() == 1 })
	if err := removeAll(h.allocDir, id); err != nil { // garbage collection
		t.Fatal(err)
	}
	// The source has seen the file deleted once the stream is finishing.
	waitFor(t, "the stream to finish", func() bool { return h.streamsIn(stateFinishing) == 1 })
	h.stop()
	if h.logs.count("drover stops before it delivered all their lines") != 1 {
		t.Errorf("the loss is not logged:\n%s", lastLines(h.logs.String(), 20))
	}
	if v := testutil.ToFloat64(h.m.Errors("purged")); v != 1 {
		t.Errorf("purged = %v, want 1", v)
	}
}

// TestStoppingReportsUnreadDeletedFilesLaterInTheChain: the files after the
// one being read are checked too when the source stops (a chaos run found
// the last file of a garbage-collected allocation's stream, never looked
// at again after it was opened, lost without a word).
func TestStoppingReportsUnreadDeletedFilesLaterInTheChain(t *testing.T) {
	h, id := startBehindABlockedSink(t)
	writeLog(t, nomad.LogsDir(h.allocDir, id), 1, "the last lines, in the next file\n")
	waitFor(t, "both files to be opened", func() bool { return h.filesOpen() == 2 })
	if err := removeAll(h.allocDir, id); err != nil { // garbage collection
		t.Fatal(err)
	}
	h.stop()
	if h.logs.count("drover stops before it delivered all their lines") != 1 || h.logs.count("last_file=1") != 1 {
		t.Errorf("the loss of files 0 to 1 is not logged:\n%s", lastLines(h.logs.String(), 20))
	}
	if v := testutil.ToFloat64(h.m.Errors("purged")); v != 2 {
		t.Errorf("purged = %v, want 2", v)
	}
}

// startBehindABlockedSink starts a source whose sink takes nothing, with an
// allocation whose file 0 holds more lines than can be emitted.
func startBehindABlockedSink(t *testing.T) (*harness, string) {
	h := newHarness(t, nil)
	h.rec.block()
	h.start()
	id := h.addAlloc(nomadtest.Alloc{})
	var b strings.Builder
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, "line %06d of a task whose allocation is collected while the sink is down\n", i)
	}
	writeLog(t, nomad.LogsDir(h.allocDir, id), 0, b.String())
	return h, id
}

// Lines of a deleted file that were read but not acknowledged when the
// source stops (failed, or still in its emit queue) are lost with the
// descriptor like unread ones: found by the 10-minute chaos run, where a
// process stopped with SIGTERM held the read and unacknowledged lines of a
// garbage-collected stream, and reported only the file it had not read.
func TestStoppingWithUnacknowledgedLinesOfDeletedFilesReportsTheLoss(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	id := h.addAlloc(nomadtest.Alloc{})
	dir := nomad.LogsDir(h.allocDir, id)
	writeLog(t, dir, 0, "acknowledged\n")
	waitFor(t, "the first line", func() bool { return h.rec.count("acknowledged") == 1 })
	h.rec.mu.Lock()
	h.rec.hold = true
	h.rec.mu.Unlock()
	writeLog(t, dir, 0, "read, not acknowledged\n")
	writeLog(t, dir, 1, "in the next file, read, not acknowledged\n")
	waitFor(t, "the lines read", func() bool { return h.rec.count("in the next file, read, not acknowledged") == 1 })
	if err := removeAll(h.allocDir, id); err != nil { // garbage collection
		t.Fatal(err)
	}
	h.rec.releaseHeld(event.Failed)
	h.stop()
	if h.logs.count("drover stops before it delivered all their lines") != 1 ||
		h.logs.count("first_file=0") != 1 || h.logs.count("last_file=1") != 1 {
		t.Errorf("the loss of files 0 to 1 is not logged:\n%s", lastLines(h.logs.String(), 20))
	}
	if v := testutil.ToFloat64(h.src.losses.Counter(tail.LostDeletedUnread)); v != 2 {
		t.Errorf("deleted_unread = %v, want 2", v)
	}
}
