package file

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/source/reading"
	"github.com/drover-dev/drover/internal/tail"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestResumeAcrossRestart(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	a1, ta := numbered("a", 0, 300)
	b1, tb := numbered("b", 0, 300)
	writeFile(t, a, ta)
	writeFile(t, b, tb+"partial without newline")
	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.PartialLineTimeout = time.Hour

	h := newHarness(t, data, cfg, newRecorder()).start()
	waitLines(t, h.rec, a, a1)
	waitLines(t, h.rec, b, b1)
	h.stop()
	// The held partial line is not committed.
	if cp := h.checkpoint(); cp[a] != int64(len(ta)) || cp[b] != int64(len(tb)) {
		t.Fatalf("checkpoint %v", cp)
	}

	// While stopped: both files grow, a new file appears.
	a2, ta2 := numbered("a", 300, 400)
	appendFile(t, a, ta2)
	appendFile(t, b, " done\n")
	c := filepath.Join(dir, "c.log")
	c1, tc := numbered("c", 0, 10)
	writeFile(t, c, tc)

	// read_from = "end" does not apply to files with a checkpoint, and the
	// new file has none but is present at start: it is read from the end.
	cfg2 := testConfig(filepath.Join(dir, "*.log"))
	cfg2.ReadFrom = reading.FromEnd
	h2 := newHarness(t, data, cfg2, newRecorder()).start()
	defer h2.stop()
	waitLines(t, h2.rec, a, a2)
	waitLines(t, h2.rec, b, []string{"partial without newline done"})
	time.Sleep(3 * cfg.ScanInterval)
	if n := h2.rec.count(c); n != 0 {
		t.Fatalf("c read from the beginning: %d lines (%v)", n, c1)
	}
	if strings.Count(h2.logs.String(), "start=checkpoint") != 2 {
		t.Fatalf("logs:\n%s", h2.logs)
	}
}

func TestCleanRestartsLoseAndDuplicateNothing(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "")
	cfg := testConfig(app)
	var all []string
	got := []string{}
	for round := 0; round < 5; round++ {
		h := newHarness(t, data, cfg, newRecorder()).start()
		ls, text := numbered("r", round*100, round*100+100)
		all = append(all, ls...)
		// Written while the source runs, in odd-sized pieces.
		for len(text) > 0 {
			n := min(len(text), 37)
			appendFile(t, app, text[:n])
			text = text[n:]
		}
		waitLines(t, h.rec, app, ls)
		h.stop()
		got = append(got, h.rec.msgs(app)...)
	}
	if !equal(got, all) {
		t.Fatalf("got %s", clip(got))
	}
}

func TestAcksOutOfOrderAndFailedAckHoldCheckpoint(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	app := filepath.Join(dir, "app.log")
	_, text := numbered("x", 0, 10)
	writeFile(t, app, text)
	rec := newRecorder()
	rec.hold = true
	h := newHarness(t, data, testConfig(app), rec).start()
	waitFor(t, "lines", func() bool { return rec.count(app) == 10 })

	// More batches, acked in reverse order: the checkpoint moves only when
	// the first one is acked.
	_, text2 := numbered("y", 0, 10)
	appendFile(t, app, text2)
	waitFor(t, "more lines", func() bool { return rec.count(app) == 20 })
	rec.mu.Lock()
	held := append([]*event.Ack(nil), rec.held...)
	rec.held = nil
	rec.mu.Unlock()
	if len(held) < 2 {
		t.Fatalf("%d batches", len(held))
	}
	for i := len(held) - 1; i >= 1; i-- {
		held[i].Release(event.Delivered)
	}
	time.Sleep(5 * h.cfg.CheckpointInterval)
	if off, ok := h.checkpoint()[app]; ok && off != 0 {
		t.Fatalf("checkpoint %d moved past an unacknowledged batch", off)
	}
	held[0].Release(event.Delivered)
	waitFor(t, "checkpoint at end", func() bool { return h.checkpoint()[app] == int64(len(text)+len(text2)) })

	// A failed batch holds the checkpoint for good, whatever comes after.
	appendFile(t, app, "z1\n")
	waitFor(t, "z1", func() bool { return rec.count(app) == 21 })
	rec.releaseHeld(event.Failed, false)
	appendFile(t, app, "z2\n")
	waitFor(t, "z2", func() bool { return rec.count(app) == 22 })
	rec.releaseHeld(event.Delivered, false)
	if err := h.stopRun(); err != nil {
		t.Fatal(err)
	}
	if err := h.src.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.checkpoint()[app]; got != int64(len(text)+len(text2)) {
		t.Fatalf("checkpoint %d after a failed ack", got)
	}
	// After a restart the failed line (and the one after it) come again.
	h2 := newHarness(t, data, testConfig(app), newRecorder()).start()
	defer h2.stop()
	waitLines(t, h2.rec, app, []string{"z1", "z2"})
}

func TestRunRestartRereadsFailedBatches(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "one\n")
	rec := newRecorder()
	rec.block = make(chan struct{})
	h := newHarness(t, t.TempDir(), testConfig(app), rec).start()
	waitFor(t, "emit", func() bool { return rec.emits.Load() == 1 })
	// Run ends while Emit blocks: the batch fails.
	if err := h.stopRun(); err != nil {
		t.Fatal(err)
	}
	rec.block = nil
	h.start()
	defer h.stop()
	waitLines(t, rec, app, []string{"one"})
}

func TestCloseWaitsForAcks(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "one\ntwo\n")
	rec := newRecorder()
	rec.hold = true
	h := newHarness(t, t.TempDir(), testConfig(app), rec).start()
	waitFor(t, "lines", func() bool { return rec.count(app) == 2 })
	if err := h.stopRun(); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- h.src.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with acks outstanding", err)
	case <-time.After(100 * time.Millisecond):
	}
	if got := testutil.ToFloat64(h.m.Unacknowledged); got != 1 {
		t.Fatalf("unacknowledged = %v", got)
	}
	rec.releaseHeld(event.Delivered, false)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if got := h.checkpoint()[app]; got != 8 {
		t.Fatalf("final checkpoint %d", got)
	}
	if testutil.ToFloat64(h.m.FilesOpen) != 0 || testutil.ToFloat64(h.m.Unacknowledged) != 0 {
		t.Fatal("gauges not reset")
	}
}

func TestCloseGivesUpWithContext(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "one\n")
	rec := newRecorder()
	rec.hold = true
	h := newHarness(t, t.TempDir(), testConfig(app), rec).start()
	waitFor(t, "lines", func() bool { return rec.count(app) == 1 })
	h.stopRun()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.src.Close(ctx); err == nil {
		t.Fatal("Close without acks returned nil")
	}
	if off := h.checkpoint()[app]; off != 0 {
		t.Fatalf("checkpoint %d without ack", off)
	}
	rec.releaseHeld(event.Delivered, false)
}

func TestCorruptCheckpointStartsOver(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "one\n")
	cfg := testConfig(app)
	h := newHarness(t, data, cfg, newRecorder())
	if err := os.MkdirAll(filepath.Dir(h.src.CheckpointPath()), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, h.src.CheckpointPath(), `{"version":1,"state":{"files":[{"pa`)
	h.start()
	defer h.stop()
	waitLines(t, h.rec, app, []string{"one"})
	if got := h.errors("checkpoint"); got != 1 {
		t.Fatalf("errors{checkpoint} = %v", got)
	}
	if !strings.Contains(h.logs.String(), "checkpoint unusable") {
		t.Fatal("not logged")
	}
	// A fresh checkpoint replaces it.
	waitFor(t, "new checkpoint", func() bool { return h.checkpoint()[app] == 4 })
}

func TestCorruptCheckpointUsesBackup(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "one\n")
	h := newHarness(t, data, testConfig(app), newRecorder()).start()
	waitLines(t, h.rec, app, []string{"one"})
	waitFor(t, "checkpoint", func() bool { return h.checkpoint()[app] == 4 })
	appendFile(t, app, "two\n")
	waitFor(t, "checkpoint 2", func() bool { return h.checkpoint()[app] == 8 })
	h.stop()
	// Tear the newest checkpoint: the previous one is used.
	writeFile(t, h.src.CheckpointPath(), "{")
	h2 := newHarness(t, data, testConfig(app), newRecorder()).start()
	defer h2.stop()
	waitLines(t, h2.rec, app, []string{"two"})
}

func TestUnreadableCheckpointIsAnError(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "one\n")
	h := newHarness(t, data, testConfig(app), newRecorder())
	// A directory where the checkpoint file should be: reading it fails
	// with an I/O error, not a parse error.
	if err := os.MkdirAll(h.src.CheckpointPath(), 0o755); err != nil {
		t.Fatal(err)
	}
	err := h.src.Run(context.Background(), h.rec)
	if err == nil || !strings.Contains(err.Error(), "loading checkpoint") {
		t.Fatalf("Run = %v", err)
	}
	if err := h.src.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestInodeReuseReadsFromBeginning(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "new content 1\nnew content 2\n")
	fi, err := os.Stat(app)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := tail.IDOf(fi)
	// A checkpoint of an earlier file with the same device and inode but
	// other content, at an offset inside the new file.
	cp := checkpoint.File{Path: checkpoint.PathFor(data, "file", "test"), Version: stateVersion}
	if err := cp.Save(state{Files: []fileState{{
		Path: filepath.Join(dir, "old.log"), Dev: id.Dev, Ino: id.Ino,
		HeadLen: 10, HeadCRC: 12345, Offset: 14, LastSeen: time.Now(),
	}}}); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, data, testConfig(app), newRecorder()).start()
	defer h.stop()
	waitLines(t, h.rec, app, []string{"new content 1", "new content 2"})
	if got := h.errors("inode_reused"); got != 1 {
		t.Fatalf("errors{inode_reused} = %v", got)
	}
}

func TestCheckpointMatchesByIdentityNotPath(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	app := filepath.Join(dir, "app.log")
	one, text := numbered("one", 0, 20)
	writeFile(t, app, text)
	cfg := testConfig(filepath.Join(dir, "*"))
	h := newHarness(t, data, cfg, newRecorder()).start()
	waitLines(t, h.rec, app, one)
	h.stop()
	// Renamed while stopped, and a new file at the old path.
	moved := filepath.Join(dir, "app.log.1")
	if err := os.Rename(app, moved); err != nil {
		t.Fatal(err)
	}
	appendFile(t, moved, "tail of old\n")
	writeFile(t, app, "fresh\n")
	h2 := newHarness(t, data, cfg, newRecorder()).start()
	defer h2.stop()
	waitLines(t, h2.rec, moved, []string{"tail of old"})
	waitLines(t, h2.rec, app, []string{"fresh"})
}

func TestTruncatedWhileStopped(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "a long first line to be truncated\n")
	h := newHarness(t, data, testConfig(app), newRecorder()).start()
	waitLines(t, h.rec, app, []string{"a long first line to be truncated"})
	h.stop()
	writeFile(t, app, "a\n") // same inode, shorter
	h2 := newHarness(t, data, testConfig(app), newRecorder()).start()
	defer h2.stop()
	waitLines(t, h2.rec, app, []string{"a"})
}

func TestCheckpointRetention(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	keep := filepath.Join(dir, "keep.log")
	gone := filepath.Join(dir, "gone.log")
	writeFile(t, keep, "k\n")
	// A checkpoint entry of a file that no longer exists.
	cp := checkpoint.File{Path: checkpoint.PathFor(data, "file", "test"), Version: stateVersion}
	if err := cp.Save(state{Files: []fileState{{Path: gone, Dev: 1, Ino: 999999999, Offset: 5, LastSeen: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.CheckpointRetention = 300 * time.Millisecond
	h := newHarness(t, data, cfg, newRecorder()).start()
	defer h.stop()
	waitLines(t, h.rec, keep, []string{"k"})
	waitFor(t, "entry kept at first", func() bool { _, ok := h.checkpoint()[gone]; return ok })
	waitFor(t, "entry pruned", func() bool {
		c := h.checkpoint()
		_, ok := c[gone]
		return !ok && c[keep] == 2
	})
}

func TestCheckpointFormat(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "hello\n")
	h := newHarness(t, data, testConfig(app), newRecorder()).start()
	waitLines(t, h.rec, app, []string{"hello"})
	h.stop()
	if want := filepath.Join(data, "checkpoints", "file-test.json"); h.src.CheckpointPath() != want {
		t.Fatalf("path %s", h.src.CheckpointPath())
	}
	raw, err := os.ReadFile(h.src.CheckpointPath())
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Version   int       `json:"version"`
		WrittenAt time.Time `json:"written_at"`
		State     struct {
			Files []map[string]any `json:"files"`
		} `json:"state"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	if env.Version != 1 || env.WrittenAt.IsZero() || len(env.State.Files) != 1 {
		t.Fatalf("%s", raw)
	}
	f := env.State.Files[0]
	for _, k := range []string{"path", "dev", "ino", "head_len", "head_crc32c", "offset", "last_seen"} {
		if _, ok := f[k]; !ok {
			t.Errorf("no %q in %s", k, raw)
		}
	}
	if f["head_len"].(float64) != 6 || f["offset"].(float64) != 6 {
		t.Fatalf("%s", raw)
	}
}
