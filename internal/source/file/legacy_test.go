package file

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/drover-dev/drover/internal/source/reading"
	"github.com/drover-dev/drover/internal/tail"
)

// The checkpoint and the files in testdata/legacy-v1 were written by the
// file source of the first release (commit 3b3f9fe, see
// testdata/legacy-v1/README.md). The source resumes from them exactly:
// every line after a saved position arrives once, none before it again.
func TestResumesFromACheckpointOfTheFirstRelease(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	src := filepath.Join("testdata", "legacy-v1")
	copyFile := func(from, to string) {
		b, err := os.ReadFile(filepath.Join(src, "files", from))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, to), string(b))
	}
	copyFile("a.log", "a.log")
	copyFile("b.log", "b.log")
	copyFile("c.log.1", "c.log") // renamed back into the patterns
	// The saved positions name the files by device and inode: those of the
	// machine that wrote them become those of the copies, path by path.
	raw, err := os.ReadFile(filepath.Join(src, "file-test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	for _, e := range env["state"].(map[string]any)["files"].([]any) {
		f := e.(map[string]any)
		p := filepath.Join(dir, filepath.Base(f["path"].(string)))
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := tail.IDOf(fi)
		f["path"], f["dev"], f["ino"] = p, id.Dev, id.Ino
	}
	raw, err = json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(data, "checkpoints"), 0o750); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(data, "checkpoints", "file-test.json"), string(raw))

	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.ReadFrom = reading.FromEnd // must not apply: every file has a position
	h := newHarness(t, data, cfg, newRecorder()).start()
	defer h.stop()
	a, b, c := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "c.log")
	appendFile(t, b, " done\n")
	appendFile(t, c, "c-4\n")
	waitLines(t, h.rec, a, []string{"a-10", "a-11", "a-12", "a-13", "a-14"})
	waitLines(t, h.rec, b, []string{"held partial done"})
	waitLines(t, h.rec, c, []string{"c-4"})
	appendFile(t, a, "a-15\n")
	waitLines(t, h.rec, a, []string{"a-10", "a-11", "a-12", "a-13", "a-14", "a-15"})
}
