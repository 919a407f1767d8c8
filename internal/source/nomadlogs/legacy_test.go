package nomadlogs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/nomadtest"
)

// copyTree copies the regular files below src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The checkpoint and the log files in testdata/legacy-v1 were written by
// the nomad_logs source of the first release (commit 3b3f9fe, see
// testdata/legacy-v1/README.md). The source resumes from them exactly:
// every line after a saved position arrives once, none before it again.
func TestResumesFromACheckpointOfTheFirstRelease(t *testing.T) {
	const (
		idA = "aaaaaaaa-0000-4000-8000-000000000001" // stdout mid-way in file 2 of 5, stderr at its end
		idB = "bbbbbbbb-0000-4000-8000-000000000002" // at the start of a line split across files 0 and 1
		idC = "cccccccc-0000-4000-8000-000000000003" // a completed batch allocation read to its end
	)
	h := newHarness(t, nil)
	for _, id := range []string{idA, idB, idC} {
		h.makeAllocDir(id, nil)
	}
	copyTree(t, filepath.Join("testdata", "legacy-v1", "alloc"), h.allocDir)
	h.srv.AddAlloc(nomadtest.Alloc{ID: idA, Job: "web"})
	h.srv.AddAlloc(nomadtest.Alloc{ID: idB, Job: "split"})
	h.srv.AddAlloc(nomadtest.Alloc{ID: idC, Job: "done", JobType: "batch", ClientStatus: "complete"})
	cp, err := os.ReadFile(filepath.Join("testdata", "legacy-v1", "nomad_logs-tasks.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(h.dataDir, "checkpoints"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dataDir, "checkpoints", "nomad_logs-tasks.json"), cp, 0o640); err != nil {
		t.Fatal(err)
	}
	h.start()

	var want []string
	for i := 0; i < 10; i++ {
		want = append(want, "unacked-00000"+string(rune('0'+i)))
	}
	want = append(want, "split over two files")
	waitFor(t, "the lines after the saved positions", func() bool { return h.rec.hasAll(want) })
	waitFor(t, "the completed allocation released", func() bool {
		return strings.Contains(h.logs.String(), "task stream read to its end; released") &&
			strings.Contains(h.logs.String(), "alloc_id="+idC)
	})
	// Lines written now arrive after anything the source would read again.
	appendTo := func(id, name, text string) {
		f, err := os.OpenFile(filepath.Join(nomad.LogsDir(h.allocDir, id), name), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
	}
	appendTo(idA, "app.stdout.4", "later stdout\n")
	appendTo(idA, "app.stderr.0", "later stderr\n")
	appendTo(idB, "app.stdout.1", "later split\n")
	want = append(want, "later stdout", "later stderr", "later split")
	waitFor(t, "the lines written after the start", func() bool { return h.rec.hasAll(want) })
	for _, m := range want {
		if n := h.rec.count(m); n != 1 {
			t.Errorf("%q arrived %d times", m, n)
		}
	}
	if n := len(h.rec.all()); n != len(want) {
		var extra []string
		for _, e := range h.rec.all() {
			extra = append(extra, e.msg)
		}
		t.Errorf("%d events, want %d: %q", n, len(want), extra)
	}
}
