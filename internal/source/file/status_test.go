package file

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/status"
)

// The status lists the followed files, and the files an exclude pattern
// leaves out with the pattern that does; a file excluded later moves from
// one to the other.
func TestDescribeListsExcludedFilesWithTheirRule(t *testing.T) {
	dir := t.TempDir()
	kept, skipped, late := filepath.Join(dir, "app.log"), filepath.Join(dir, "debug-1.log"), filepath.Join(dir, "debug-2.log")
	writeFile(t, kept, "kept\n")
	writeFile(t, skipped, "skipped\n")
	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.Exclude = []string{filepath.Join(dir, "debug-*.log")}
	h := newHarness(t, t.TempDir(), cfg, newRecorder()).start()
	defer h.stop()
	waitLines(t, h.rec, kept, []string{"kept"})
	writeFile(t, late, "late\n")
	rule := fmt.Sprintf("exclude %q", cfg.Exclude[0])
	var ts []status.Target
	waitFor(t, "both excluded files listed", func() bool {
		ts = h.src.Describe().Targets
		return len(ts) == 3
	})
	byPath := map[string]status.Target{}
	for _, tg := range ts {
		byPath[tg.Labels["file"]] = tg
	}
	if tg := byPath[kept]; tg.State != status.StateFollowing || tg.Path != kept {
		t.Errorf("followed file: %+v", tg)
	}
	for _, p := range []string{skipped, late} {
		tg := byPath[p]
		if tg.State != status.StateExcluded || tg.Reason != rule || tg.Kind != status.TargetFile || tg.Path != p || tg.Key != p || tg.Shipped() {
			t.Errorf("excluded file %s: %+v, want excluded by %s", p, tg, rule)
		}
	}
	if n := h.rec.count(skipped) + h.rec.count(late); n != 0 {
		t.Errorf("%d lines of excluded files read", n)
	}
}

// Under max_open_files, a new file waits for room while the open one has
// unread data: the status shows it waiting_for_room (not shipped), the
// open one following and behind; once the open one is read to its end it
// is parked and the new one is followed.
func TestDescribeShowsWaitingForRoomAndParked(t *testing.T) {
	dir := t.TempDir()
	big, late := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	writeFile(t, big, strings.Repeat("a line of the big file\n", 50000))
	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.MaxOpenFiles = 1
	rec := newRecorder()
	rec.block = make(chan struct{})
	h := newHarness(t, t.TempDir(), cfg, rec).start()
	defer h.stop()
	waitFor(t, "the big file's reading stalled", func() bool { return rec.emits.Load() > 0 })
	writeFile(t, late, "late\n")
	byPath := func() map[string]status.Target {
		m := map[string]status.Target{}
		for _, tg := range h.src.Describe().Targets {
			m[tg.Labels["file"]] = tg
		}
		return m
	}
	waitFor(t, "b.log waiting for room", func() bool {
		m := byPath()
		return m[late].State == status.StateWaitingRoom && m[big].State == status.StateFollowing && m[big].BytesBehind > 0
	})
	if m := byPath(); m[late].Shipped() || m[big].Shipped() {
		t.Fatalf("shipped while stalled: %+v", m)
	}
	close(rec.block)
	waitLines(t, rec, late, []string{"late"})
	waitFor(t, "a.log parked, b.log followed", func() bool {
		m := byPath()
		return m[big].State == status.StateParked && m[big].Shipped() && m[late].State == status.StateFollowing && m[late].Shipped()
	})
}
