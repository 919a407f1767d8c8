package gen

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestLinesHaveTheirSizeAndParse(t *testing.T) {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC).UnixNano()
	long := 0
	for sid := range 4 {
		for seq := uint64(0); seq < 3000; seq++ {
			line := AppendLine(nil, sid, seq, ts)
			if len(line) != Size(sid, seq) {
				t.Fatalf("sid %d seq %d: %d bytes, Size says %d: %s", sid, seq, len(line), Size(sid, seq), line)
			}
			if len(line) < MinLine || len(line) > MaxLongLine || !utf8.Valid(line) || bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("sid %d seq %d: bad line %q", sid, seq, line)
			}
			if len(line) > MaxLine {
				long++
			}
			if FormatOf(sid) == JSON && !json.Valid(line) {
				t.Fatalf("sid %d seq %d: invalid JSON %s", sid, seq, line)
			}
			if !bytes.Equal(line, AppendLine(nil, sid, seq, ts)) {
				t.Fatal("a line is not a function of (sid, seq, ts)")
			}
			// As written, and inside a JSON string.
			quoted, _ := json.Marshal(string(line))
			for _, b := range [][]byte{line, quoted[1:]} {
				gts, gsid, gseq, ok := ParseHeader(b)
				if !ok || gts != ts || gsid != sid || gseq != seq {
					t.Fatalf("ParseHeader(%.60s) = %d %d %d %v", b, gts, gsid, gseq, ok)
				}
			}
		}
	}
	if long < 20 || long > 120 {
		t.Errorf("%d long lines in 12000, want about 60", long)
	}
	if _, _, _, ok := ParseHeader([]byte("GET /health 200 took 3ms")); ok {
		t.Error("a line without a header parsed")
	}
}

func TestFileRotatesAtLineEndsAndPurges(t *testing.T) {
	for _, maxFiles := range []int{0, 3} {
		dir := t.TempDir()
		f, err := CreateFile(dir, "app", "stdout", 100, maxFiles)
		if err != nil {
			t.Fatal(err)
		}
		line := []byte(strings.Repeat("a", 29) + "\n")
		for range 30 {
			if err := f.Write(line); err != nil {
				t.Fatal(err)
			}
		}
		// Longer than a file: it fills file 9 and continues in 10, 11, 12.
		if err := f.Write([]byte(strings.Repeat("x", 250) + "\n")); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		sizes := map[int]int{}
		for n := 0; n <= f.Current(); n++ {
			if b, err := os.ReadFile(f.Path(n)); err == nil {
				sizes[n] = len(b)
			}
		}
		want := map[int]int{10: 100, 11: 100, 12: 41}
		if maxFiles == 0 {
			for n := range 9 {
				want[n] = 90 // three whole lines; the fourth does not fit
			}
			want[9] = 100
		}
		if len(sizes) != len(want) {
			t.Fatalf("max_files %d: files %v, want %v", maxFiles, sizes, want)
		}
		for n, size := range want {
			if sizes[n] != size {
				t.Errorf("max_files %d: file %d holds %d bytes, want %d", maxFiles, n, sizes[n], size)
			}
		}
	}
}

func TestWriterBacklogAndRate(t *testing.T) {
	dir := t.TempDir()
	l := NewLayout(dir, 3)
	if len(l.Allocs) != 2 || l.Streams[2].Name != "stdout" || l.Streams[1].Alloc != 0 {
		t.Fatalf("layout %+v", l)
	}
	w, err := NewWriter(l, 64<<10, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Backlog(300 << 10); err != nil {
		t.Fatal(err)
	}
	if err := w.Rate(context.Background(), 200<<10, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	lines := w.Lines()
	var size int64
	for sid, st := range l.Streams {
		var got []byte
		for n := 0; ; n++ {
			b, err := os.ReadFile(filepath.Join(st.Dir, Task+"."+st.Name+"."+itoa(n)))
			if err != nil {
				break
			}
			got = append(got, b...)
		}
		size += int64(len(got))
		var seq uint64
		for _, line := range bytes.SplitAfter(got, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			ts, gsid, gseq, ok := ParseHeader(line)
			if !ok || gsid != sid || gseq != seq || !bytes.Equal(line[:len(line)-1], AppendLine(nil, sid, seq, ts)) {
				t.Fatalf("stream %d line %d: %.80q", sid, seq, line)
			}
			seq++
		}
		if seq != lines[sid] {
			t.Errorf("stream %d: %d lines on disk, writer says %d", sid, seq, lines[sid])
		}
	}
	// The paced part writes what the clock allows, which a loaded machine
	// makes less: it only has to have written something.
	if size != w.Bytes() || size <= 300<<10 {
		t.Errorf("%d bytes on disk, writer says %d", size, w.Bytes())
	}
	for _, name := range []string{".app.stdout.fifo", ".app.stderr.fifo", "app.stderr.0"} {
		if _, err := os.Lstat(filepath.Join(LogsDir(dir, l.Allocs[1].ID), name)); err != nil {
			t.Error(err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
