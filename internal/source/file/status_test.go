package file

import (
	"fmt"
	"path/filepath"
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
