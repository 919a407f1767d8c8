package file

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/source/reading"
)

// A crash before the next periodic save used to leave the files the source
// had just started following without a position, so that the next start
// applied read_from = "end" to them and skipped what was written in
// between. Positions are saved as soon as a scan decides them.
func TestCrashBeforeTheFirstSaveKeepsStartPositions(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	writeFile(t, a, "before drover\n")
	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.ReadFrom = reading.FromEnd
	cfg.CheckpointInterval = time.Hour

	h := newHarness(t, data, cfg, newRecorder()).start()
	waitFor(t, "a.log to be followed", func() bool { return h.src.m != nil && h.logs.count("following file") == 1 })
	appendFile(t, a, "after the start\n")
	writeFile(t, b, "new file\n") // found after the first scan: read from its beginning
	waitLines(t, h.rec, a, []string{"after the start"})
	waitLines(t, h.rec, b, []string{"new file"})
	if err := h.stopRun(); err != nil { // a crash: no Close, no final save
		t.Fatal(err)
	}
	appendFile(t, a, "while drover is down\n")
	appendFile(t, b, "b while drover is down\n")

	h2 := newHarness(t, data, cfg, newRecorder()).start()
	defer h2.stop()
	waitFor(t, "the lines written while drover was down", func() bool {
		return h2.rec.count(a) > 0 && h2.rec.count(b) > 0 &&
			h2.rec.msgs(a)[len(h2.rec.msgs(a))-1] == "while drover is down" &&
			h2.rec.msgs(b)[len(h2.rec.msgs(b))-1] == "b while drover is down"
	})
	for _, m := range h2.rec.msgs(a) {
		if m == "before drover" {
			t.Error("read_from = \"end\" was not applied at the first start")
		}
	}
}
