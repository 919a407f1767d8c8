package file

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/fswatch"
	"github.com/drover-dev/drover/internal/source/reading"
)

func TestReadsExistingAndNewFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	wantA, text := numbered("a", 0, 100)
	writeFile(t, a, text)
	h := newHarness(t, t.TempDir(), testConfig(filepath.Join(dir, "*.log")), newRecorder()).start()
	defer h.stop()
	waitLines(t, h.rec, a, wantA)

	// Metadata: one shared Meta per file with file, host and source_type.
	h.rec.mu.Lock()
	meta := h.rec.metas[a]
	h.rec.mu.Unlock()
	if meta.Source != "test" || meta.Fields.Len() != 3 {
		t.Fatalf("meta %+v", meta)
	}
	for k, want := range map[string]string{"file": a, "host": "node-1", "source_type": "file"} {
		if v, _ := meta.Fields.Lookup(k); v.Str() != want {
			t.Errorf("%s = %q, want %q", k, v.Str(), want)
		}
	}

	// A new file is found and read from its beginning, promptly.
	b := filepath.Join(dir, "b.log")
	start := time.Now()
	writeFile(t, b, "first\n")
	waitLines(t, h.rec, b, []string{"first"})
	t.Logf("new file's first line after %v", time.Since(start))
	more, text := numbered("b", 0, 50)
	appendFile(t, b, text)
	waitLines(t, h.rec, b, append([]string{"first"}, more...))

	if got := testutil.ToFloat64(h.m.FilesOpen); got != 2 {
		t.Fatalf("files_open = %v", got)
	}
	if got := testutil.ToFloat64(h.m.SentEvents); got != 151 {
		t.Fatalf("sent = %v", got)
	}
	if got := testutil.ToFloat64(h.m.ReceivedEvents); got != 151 {
		t.Fatalf("received = %v", got)
	}
	waitFor(t, "checkpoint", func() bool {
		cp := h.checkpoint()
		return cp[a] == int64(len(textOf(wantA))) && cp[b] == int64(6+len(text))
	})
}

func textOf(lines []string) string { return strings.Join(lines, "\n") + "\n" }

func TestNewFileLatencyWithoutFsnotify(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.UseFsnotify = false
	cfg.ScanInterval = 100 * time.Millisecond
	h := newHarness(t, t.TempDir(), cfg, newRecorder()).start()
	defer h.stop()
	a := filepath.Join(dir, "a.log")
	writeFile(t, a, "x\n")
	waitLines(t, h.rec, a, []string{"x"})
	// Appends are found by polling.
	appendFile(t, a, "y\n")
	waitLines(t, h.rec, a, []string{"x", "y"})
	if h.src.watching.Load() != 0 {
		t.Fatal("watcher in use")
	}
}

func TestNomadStyleRotation(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "alloc", "1234", "alloc", "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, t.TempDir(), testConfig(filepath.Join(dir, "alloc", "*", "alloc", "logs", "*.stdout.*")), newRecorder()).start()
	defer h.stop()

	var want [3][]string
	for n := 0; n < 3; n++ {
		p := filepath.Join(logs, "web.stdout."+string(rune('0'+n)))
		ls, text := numbered(p, 0, 200)
		want[n] = ls
		// Written in pieces, ending mid-line like logmon's 100 ms flushes.
		half := len(text)/2 + 3
		writeFile(t, p, text[:half])
		appendFile(t, p, text[half:])
	}
	// Old files are deleted later, like logmon's purge.
	for n := 0; n < 3; n++ {
		p := filepath.Join(logs, "web.stdout."+string(rune('0'+n)))
		waitLines(t, h.rec, p, want[n])
	}
	for n := 0; n < 2; n++ {
		os.Remove(filepath.Join(logs, "web.stdout."+string(rune('0'+n))))
	}
	waitFor(t, "old files closed", func() bool { return testutil.ToFloat64(h.m.FilesOpen) == 1 })
	// A deleted file's position is dropped: its inode will be reused.
	waitFor(t, "checkpoint without deleted files", func() bool {
		cp := h.checkpoint()
		return len(cp) == 1 && cp[filepath.Join(logs, "web.stdout.2")] > 0
	})
	// A new alloc directory appears: its files are found too.
	logs2 := filepath.Join(dir, "alloc", "5678", "alloc", "logs")
	if err := os.MkdirAll(logs2, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(logs2, "api.stdout.0")
	writeFile(t, p, "hello\n")
	waitLines(t, h.rec, p, []string{"hello"})
}

func TestLogrotateRenameCreate(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	h := newHarness(t, t.TempDir(), testConfig(filepath.Join(dir, "*.log")), newRecorder()).start()
	defer h.stop()

	w, err := os.OpenFile(app, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	before, text := numbered("before", 0, 100)
	w.WriteString(text)
	waitLines(t, h.rec, app, before)

	// logrotate renames the file out of the pattern; the writer has not
	// reopened yet and writes a few more lines into the renamed file.
	rotated := filepath.Join(dir, "app.log.1")
	if err := os.Rename(app, rotated); err != nil {
		t.Fatal(err)
	}
	late, text := numbered("late", 0, 10)
	w.WriteString(text)
	// ... then creates a new file at the old path.
	after, text := numbered("after", 0, 100)
	writeFile(t, app, text)

	// The events of the renamed file carry the path they were read at; the
	// new file is read from its beginning. Nothing is read twice.
	waitFor(t, "all lines", func() bool { return h.rec.total() == 210 })
	got := h.rec.msgs(app)
	if !equal(got[:100], before) {
		t.Fatalf("before: %s", clip(got))
	}
	rest := got[100:]
	var gotLate, gotAfter []string
	for _, l := range rest {
		if strings.HasPrefix(l, "late") {
			gotLate = append(gotLate, l)
		} else {
			gotAfter = append(gotAfter, l)
		}
	}
	if !equal(gotLate, late) || !equal(gotAfter, after) {
		t.Fatalf("late %s after %s", clip(gotLate), clip(gotAfter))
	}
	// The renamed file is closed after rotate_wait without growth.
	waitFor(t, "rotated file closed", func() bool { return testutil.ToFloat64(h.m.FilesOpen) == 1 })
}

func TestRenameWithinPatternKeepsReading(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	h := newHarness(t, t.TempDir(), testConfig(filepath.Join(dir, "app.log*")), newRecorder()).start()
	defer h.stop()
	w, err := os.OpenFile(app, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	one, text := numbered("one", 0, 50)
	w.WriteString(text)
	waitLines(t, h.rec, app, one)
	rotated := app + ".1"
	if err := os.Rename(app, rotated); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "rename noticed", func() bool { return strings.Contains(h.logs.String(), "file renamed") })
	two, text := numbered("two", 0, 50)
	w.WriteString(text)
	waitLines(t, h.rec, rotated, two)
	if h.rec.count(app) != 50 {
		t.Fatalf("re-read the renamed file: %d lines at the old path", h.rec.count(app))
	}
	waitFor(t, "checkpoint under the new path", func() bool {
		cp := h.checkpoint()
		_, old := cp[app]
		return cp[rotated] == int64(2*len(text)) && !old
	})
	if testutil.ToFloat64(h.m.FilesOpen) != 1 {
		t.Fatal("files_open")
	}
}

func TestCopytruncate(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	before, text := numbered("before", 0, 100)
	writeFile(t, app, text)
	h := newHarness(t, t.TempDir(), testConfig(app), newRecorder()).start()
	defer h.stop()
	waitLines(t, h.rec, app, before)

	// copytruncate: copy (not followed), truncate, the writer goes on.
	writeFile(t, filepath.Join(dir, "app.log.1"), text)
	if err := os.Truncate(app, 0); err != nil {
		t.Fatal(err)
	}
	after, text2 := numbered("after", 0, 5)
	appendFile(t, app, text2)
	waitLines(t, h.rec, app, append(before, after...))
	if got := h.errors("file_truncated"); got != 1 {
		t.Fatalf("file_truncated = %v", got)
	}
	waitFor(t, "checkpoint at the new end", func() bool { return h.checkpoint()[app] == int64(len(text2)) })
}

func TestTruncatedAndRewrittenPastOffset(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "short\n")
	h := newHarness(t, t.TempDir(), testConfig(app), newRecorder()).start()
	defer h.stop()
	waitLines(t, h.rec, app, []string{"short"})
	// Rewritten in place with more content than before, before the next
	// poll: only the changed head reveals it.
	f, err := os.OpenFile(app, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("other content that is longer\n")
	f.Close()
	waitLines(t, h.rec, app, []string{"short", "other content that is longer"})
}

func TestDeleteWhileOpenReadsToEnd(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	want, text := numbered(strings.Repeat("x", 100), 0, 20000) // ~2 MB
	writeFile(t, app, text)
	rec := newRecorder()
	rec.block = make(chan struct{})
	h := newHarness(t, t.TempDir(), testConfig(app), rec).start()
	defer h.stop()
	waitFor(t, "first emit", func() bool { return rec.emits.Load() == 1 })
	if err := os.Remove(app); err != nil {
		t.Fatal(err)
	}
	// Let the scans notice the deletion while the sink is blocked.
	time.Sleep(3 * h.cfg.ScanInterval)
	close(rec.block)
	waitLines(t, h.rec, app, want)
	waitFor(t, "file closed", func() bool { return testutil.ToFloat64(h.m.FilesOpen) == 0 })
}

func TestPartialLines(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	cfg := testConfig(app)
	cfg.PartialLineTimeout = 300 * time.Millisecond
	cfg.RotateWait = time.Hour // closing is tested below with a deletion
	writeFile(t, app, "complete\nhel")
	h := newHarness(t, t.TempDir(), cfg, newRecorder()).start()
	defer h.stop()
	waitLines(t, h.rec, app, []string{"complete"})

	// Held, then completed before the timeout.
	appendFile(t, app, "lo\nwor")
	waitLines(t, h.rec, app, []string{"complete", "hello"})
	appendFile(t, app, "ld\n")
	waitLines(t, h.rec, app, []string{"complete", "hello", "world"})

	// Flushed on timeout; its rest is a line of its own.
	start := time.Now()
	appendFile(t, app, "dangling")
	waitLines(t, h.rec, app, []string{"complete", "hello", "world", "dangling"})
	if d := time.Since(start); d < cfg.PartialLineTimeout {
		t.Fatalf("flushed after %v, before the timeout", d)
	}
	ls := h.rec.linesOf(app)
	if ls[3].flags != event.Partial || ls[0].flags != 0 {
		t.Fatalf("flags %v", ls)
	}
	appendFile(t, app, " rest\n")
	waitLines(t, h.rec, app, []string{"complete", "hello", "world", "dangling", " rest"})
	waitFor(t, "checkpoint", func() bool { return h.checkpoint()[app] == int64(len("complete\nhello\nworld\ndangling rest\n")) })
}

func TestPartialLineFlushedWhenRotatedAway(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	cfg := testConfig(app)
	cfg.PartialLineTimeout = time.Hour
	writeFile(t, app, "a\nno newline")
	h := newHarness(t, t.TempDir(), cfg, newRecorder()).start()
	defer h.stop()
	waitLines(t, h.rec, app, []string{"a"})
	if err := os.Remove(app); err != nil {
		t.Fatal(err)
	}
	waitLines(t, h.rec, app, []string{"a", "no newline"})
	if ls := h.rec.linesOf(app); ls[1].flags != event.Partial {
		t.Fatalf("flags %v", ls[1].flags)
	}
	waitFor(t, "closed", func() bool { return testutil.ToFloat64(h.m.FilesOpen) == 0 })
}

func TestCRLFInvalidUTF8AndNUL(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "dos\r\nbad \xff\xfe utf8\nnul\x00byte\r\n\r\n\x00\n")
	h := newHarness(t, t.TempDir(), testConfig(app), newRecorder()).start()
	defer h.stop()
	waitLines(t, h.rec, app, []string{"dos", "bad \xff\xfe utf8", "nul\x00byte", "", "\x00"})
}

func TestLongLineTruncatedWithoutBuffering(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	f, err := os.Create(app)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("before\n")
	chunk := []byte(strings.Repeat("0123456789abcdef", 64<<10)) // 1 MiB
	for i := 0; i < 10; i++ {
		f.Write(chunk)
	}
	f.WriteString("\nafter\n")
	f.Close()
	cfg := testConfig(app)
	cfg.MaxLineBytes = 4096
	h := newHarness(t, t.TempDir(), cfg, newRecorder()).start()
	defer h.stop()
	waitFor(t, "lines", func() bool { return h.rec.count(app) == 3 })
	ls := h.rec.linesOf(app)
	if ls[0].msg != "before" || ls[2].msg != "after" || len(ls[1].msg) != 4096 ||
		ls[1].msg != string(chunk[:4096]) || ls[1].flags != event.Truncated {
		t.Fatalf("lines %d %d %v", len(ls[0].msg), len(ls[1].msg), ls[1].flags)
	}
	if got := h.errors("line_truncated"); got != 1 {
		t.Fatalf("line_truncated = %v", got)
	}
	if n := h.logs.count("line longer than max_line_bytes"); n != 1 {
		t.Fatalf("logged %d times", n)
	}
	// Memory: the reader holds at most max_line_bytes+1 of the line
	// (internal/tail's framer tests).
}

func TestEmptyFile(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	writeFile(t, app, "")
	h := newHarness(t, t.TempDir(), testConfig(app), newRecorder()).start()
	defer h.stop()
	waitFor(t, "opened", func() bool { return testutil.ToFloat64(h.m.FilesOpen) == 1 })
	appendFile(t, app, "now\n")
	waitLines(t, h.rec, app, []string{"now"})
	for _, stage := range []string{"open", "read", "file_truncated"} {
		if h.errors(stage) != 0 {
			t.Errorf("errors{%s} = %v", stage, h.errors(stage))
		}
	}
}

func TestUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.log")
	writeFile(t, good, "ok\n")
	// A broken symlink and a symlink loop fail to open for everyone,
	// including root.
	broken := filepath.Join(dir, "broken.log")
	target := filepath.Join(dir, "target.txt")
	if err := os.Symlink(target, broken); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop2.log", filepath.Join(dir, "loop1.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop1.log", filepath.Join(dir, "loop2.log")); err != nil {
		t.Fatal(err)
	}
	wantErrors, wantOpen := 4.0, 3.0
	denied := filepath.Join(dir, "denied.log")
	writeFile(t, denied, "secret\n")
	if err := os.Chmod(denied, 0); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(denied); err == nil {
		// Running as root: permissions do not stop reading.
		f.Close()
		os.Remove(denied)
		wantErrors, wantOpen = 3, 2
	}
	// A directory named like a log and a FIFO are skipped without error.
	if err := os.Mkdir(filepath.Join(dir, "dir.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	mkfifo(t, filepath.Join(dir, ".task.stdout.fifo.log"))

	h := newHarness(t, t.TempDir(), testConfig(filepath.Join(dir, "*.log")), newRecorder()).start()
	defer h.stop()
	waitLines(t, h.rec, good, []string{"ok"})
	waitFor(t, "open errors", func() bool { return h.errors("open") == wantErrors })
	// Retried at every scan, logged and counted once.
	time.Sleep(5 * h.cfg.ScanInterval)
	if got := h.errors("open"); got != wantErrors {
		t.Fatalf("errors{open} = %v, want %v", got, wantErrors)
	}
	if n := h.logs.count("cannot open file"); n != int(wantErrors) {
		t.Fatalf("logged %d times:\n%s", n, h.logs)
	}
	if !strings.Contains(h.logs.String(), broken) {
		t.Fatal("error does not name the file")
	}
	// Fixing the symlink makes the file readable at the next scan.
	writeFile(t, target, "fixed\n")
	waitLines(t, h.rec, broken, []string{"fixed"})
	if wantErrors == 4 {
		os.Chmod(denied, 0o644)
		waitLines(t, h.rec, denied, []string{"secret"})
	}
	if got := testutil.ToFloat64(h.m.FilesOpen); got != wantOpen {
		t.Fatalf("files_open = %v", got)
	}
}

func TestReadFromEnd(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.log")
	writeFile(t, old, "old 1\nold 2\n")
	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.ReadFrom = reading.FromEnd
	h := newHarness(t, t.TempDir(), cfg, newRecorder()).start()
	defer h.stop()
	waitFor(t, "opened", func() bool { return testutil.ToFloat64(h.m.FilesOpen) == 1 })
	appendFile(t, old, "new 1\n")
	waitLines(t, h.rec, old, []string{"new 1"})
	// Files that appear later are read from the beginning.
	later := filepath.Join(dir, "later.log")
	writeFile(t, later, "l1\nl2\n")
	waitLines(t, h.rec, later, []string{"l1", "l2"})
}

func TestIgnoreOlder(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.log")
	fresh := filepath.Join(dir, "fresh.log")
	writeFile(t, old, "ancient\n")
	writeFile(t, fresh, "recent\n")
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.IgnoreOlder = time.Hour
	h := newHarness(t, t.TempDir(), cfg, newRecorder()).start()
	defer h.stop()
	waitLines(t, h.rec, fresh, []string{"recent"})
	time.Sleep(3 * cfg.ScanInterval)
	if h.rec.count(old) != 0 || testutil.ToFloat64(h.m.FilesOpen) != 1 {
		t.Fatal("old file was opened")
	}
	// Once it changes, what was added is read.
	appendFile(t, old, "revived\n")
	waitLines(t, h.rec, old, []string{"revived"})
}

func TestBackpressureStopsReading(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	want, text := numbered(strings.Repeat("y", 200), 0, 50000) // ~10 MB
	writeFile(t, app, text)
	rec := newRecorder()
	rec.block = make(chan struct{})
	h := newHarness(t, t.TempDir(), testConfig(app), rec).start()
	defer h.stop()
	waitFor(t, "first emit", func() bool { return rec.emits.Load() == 1 })
	time.Sleep(200 * time.Millisecond)
	// While Emit blocks, reading stops: at most the batch being emitted
	// and the two queued behind it (internal/follow), a chunk each.
	if got := testutil.ToFloat64(h.m.ReceivedBytes); got > 3*(128<<10) {
		t.Fatalf("read %v bytes while blocked", got)
	}
	if rec.emits.Load() != 1 {
		t.Fatal("Emit called again while blocked")
	}
	if got := testutil.ToFloat64(h.m.BytesBehind(app)); got == 0 {
		t.Log("bytes_behind not set yet (first poll still in progress)")
	}
	close(rec.block)
	waitLines(t, rec, app, want)
}

func TestFairnessAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.log")
	small := filepath.Join(dir, "small.log")
	_, text := numbered(strings.Repeat("z", 100), 0, 100000) // ~10 MB
	writeFile(t, big, text)
	writeFile(t, small, "small\n")
	rec := newRecorder()
	h := newHarness(t, t.TempDir(), testConfig(filepath.Join(dir, "*.log")), rec).start()
	defer h.stop()
	waitLines(t, rec, small, []string{"small"})
	if n := rec.count(big); n >= 100000 {
		t.Fatalf("the small file waited for the whole big file (%d lines)", n)
	}
	waitFor(t, "big file", func() bool { return rec.count(big) == 100000 })
}

func TestFsnotifyUnavailable(t *testing.T) {
	orig := startWatcher
	startWatcher = func(*slog.Logger) (*fswatch.Watcher, error) { return nil, errors.New("too many open files") }
	defer func() { startWatcher = orig }()
	dir := t.TempDir()
	h := newHarness(t, t.TempDir(), testConfig(filepath.Join(dir, "*.log")), newRecorder()).start()
	defer h.stop()
	a := filepath.Join(dir, "a.log")
	writeFile(t, a, "x\n")
	waitLines(t, h.rec, a, []string{"x"})
	appendFile(t, a, "y\n")
	waitLines(t, h.rec, a, []string{"x", "y"})
	// The discoverer and the follower each report it.
	if h.errors("watch") != 2 || !strings.Contains(h.logs.String(), "cannot use fsnotify") {
		t.Fatal("unavailable fsnotify not reported")
	}
}
