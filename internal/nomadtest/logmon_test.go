package nomadtest

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestLogmonRotatesSplitsAndPurges(t *testing.T) {
	allocDir := t.TempDir()
	dir := MakeAllocDir(t, allocDir, "a1", "api")
	for _, fifo := range []string{".api.stdout.fifo", ".api.stderr.fifo"} {
		fi, err := os.Lstat(dir + "/" + fifo)
		if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Fatalf("%s: %v %v", fifo, fi, err)
		}
	}
	l := NewLogmon(t, dir, "api", "stdout", 10, 3)
	if got := l.Files(); !slices.Equal(got, []uint64{0}) {
		t.Fatalf("files at start %v", got)
	}
	lines := l.Lines("x", 0, 6, 0) // 6 lines of 9 bytes: 54 bytes over 6 files
	if len(lines) != 6 || lines[5] != "x-000005" || !slices.Equal(l.Written(), lines) {
		t.Fatalf("lines %v", lines)
	}
	if got := l.Files(); !slices.Equal(got, []uint64{3, 4, 5}) || l.Current() != 5 {
		t.Fatalf("files %v, current %d: want the last three", got, l.Current())
	}
	var all strings.Builder
	for _, n := range l.Files() {
		b, err := os.ReadFile(l.Path(n))
		if err != nil {
			t.Fatal(err)
		}
		if n < 5 && len(b) != 10 {
			t.Fatalf("file %d holds %d bytes, want 10", n, len(b))
		}
		all.Write(b)
	}
	// Files 3..5 hold bytes 30..54: the stream was cut in mid-line.
	if got := all.String(); got != "00003\nx-000004\nx-000005\n" {
		t.Fatalf("content %q", got)
	}
}
