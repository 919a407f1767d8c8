package tail

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/metrics"
)

func openAt(t *testing.T, path string) *Reader {
	t.Helper()
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// readLines reads r to its end, checking it first as a source does.
func readLines(t *testing.T, r *Reader) []framed {
	t.Helper()
	if _, err := r.Stat(); err != nil {
		t.Fatal(err)
	}
	return readAll(t, r, make([]byte, 7), time.Unix(1000, 0))
}

func TestParkedReaderResumesWhereItStopped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "one\ntwo\nthr")
	r := openAt(t, path)
	if got := readLines(t, r); !slices.Equal(got, []framed{{"one", 0}, {"two", 0}}) {
		t.Fatalf("before parking: %v", got)
	}
	if err := r.Park(); err != nil || !r.Parked() {
		t.Fatalf("Park: %v, parked %v", err, r.Parked())
	}
	if _, err := r.Stat(); !errors.Is(err, ErrParked) {
		t.Fatalf("Stat while parked: %v", err)
	}
	if changed, moved, err := r.CheckParked(path); changed || moved || err != nil {
		t.Fatalf("unchanged file: changed %v moved %v %v", changed, moved, err)
	}
	appendFile(t, path, "ee\nfour\n")
	if changed, moved, err := r.CheckParked(path); !changed || moved || err != nil {
		t.Fatalf("grown file: changed %v moved %v %v", changed, moved, err)
	}
	if err := r.Reopen(path); err != nil {
		t.Fatal(err)
	}
	// The held "thr" continues; nothing is read twice.
	if got := readLines(t, r); !slices.Equal(got, []framed{{"three", 0}, {"four", 0}}) {
		t.Fatalf("after reopening: %v", got)
	}
	if c := r.Progress().Committed(); c != 19 {
		t.Fatalf("committed %d", c)
	}
}

func TestParkedFileRenamedIsFoundByIdentity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "first\n")
	r := openAt(t, path)
	readLines(t, r)
	if err := r.Park(); err != nil {
		t.Fatal(err)
	}
	// logrotate: the file is renamed and a new one takes its name; the
	// application wrote its last line to the old file.
	appendFile(t, path, "last of the old file\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "first of the new file\n")
	if _, moved, err := r.CheckParked(path); !moved || err != nil {
		t.Fatalf("moved %v %v", moved, err)
	}
	if err := r.Reopen(path); err != nil {
		t.Fatal(err)
	}
	if r.Path() != path+".1" {
		t.Fatalf("reopened at %s", r.Path())
	}
	if got := readLines(t, r); !slices.Equal(got, []framed{{"last of the old file", 0}}) {
		t.Fatalf("after reopening: %v", got)
	}
}

func TestParkedFileDeletedVanishes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "x\n")
	r := openAt(t, path)
	readLines(t, r)
	if err := r.Park(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := r.Reopen(path); !errors.Is(err, ErrVanished) || !r.Parked() {
		t.Fatalf("Reopen: %v, parked %v", err, r.Parked())
	}
	if err := r.Close(); err != nil {
		t.Fatalf("closing a parked reader: %v", err)
	}
}

func TestParkedFileRewrittenIsReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "old content\n")
	r := openAt(t, path)
	readLines(t, r)
	if err := r.Park(); err != nil {
		t.Fatal(err)
	}
	// copytruncate, then new lines: same inode, another head.
	if err := os.WriteFile(path, []byte("new content, longer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reopen(path); !errors.Is(err, ErrReplaced) || r.Parked() {
		t.Fatalf("Reopen: %v, parked %v", err, r.Parked())
	}
	if _, err := r.Restart(time.Unix(1000, 0)); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, r); !slices.Equal(got, []framed{{"new content, longer", 0}}) {
		t.Fatalf("after the restart: %v", got)
	}
}

// budgetFixture opens n files holding one line each, read to their end,
// under a budget of max.
type budgetFixture struct {
	b       *Budget
	m       *metrics.Component
	paths   []string
	readers []*Reader
	slots   []*Slot
}

func newBudgetFixture(t *testing.T, n, max int, canPark func(i int) bool) *budgetFixture {
	t.Helper()
	f := &budgetFixture{m: metrics.ForTest("source", "file", "budget")}
	b, err := NewBudget(max, f.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	dir := t.TempDir()
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("f%d.log", i))
		writeFile(t, p, fmt.Sprintf("line %d\n", i))
		b.MakeRoom()
		r := openAt(t, p)
		readLines(t, r)
		var veto func() bool
		if canPark != nil {
			veto = func() bool { return canPark(i) }
		}
		f.paths, f.readers = append(f.paths, p), append(f.readers, r)
		f.slots = append(f.slots, b.Track(r, veto))
	}
	return f
}

func (f *budgetFixture) parked() []int {
	var out []int
	for i, r := range f.readers {
		if r.Parked() {
			out = append(out, i)
		}
	}
	return out
}

func TestBudgetParksTheLeastRecentlyActive(t *testing.T) {
	f := newBudgetFixture(t, 3, 3, nil)
	f.slots[0].Touch() // 0 is now the most recently active: 1 goes first
	f.b.MakeRoom()
	if got := f.parked(); !slices.Equal(got, []int{1}) {
		t.Fatalf("parked %v, want [1]", got)
	}
	if f.b.Open() != 2 || testutil.ToFloat64(f.m.FilesOpen) != 2 {
		t.Fatalf("open %d, gauge %v", f.b.Open(), testutil.ToFloat64(f.m.FilesOpen))
	}
	// A new file takes the room; reopening 1 then parks the least
	// recently active of the others, 2.
	p := filepath.Join(filepath.Dir(f.paths[0]), "new.log")
	writeFile(t, p, "")
	f.b.Track(openAt(t, p), nil)
	appendFile(t, f.paths[1], "more\n")
	if err := f.slots[1].Reopen(f.paths[1]); err != nil {
		t.Fatal(err)
	}
	if got := f.parked(); !slices.Equal(got, []int{2}) {
		t.Fatalf("parked %v, want [2]", got)
	}
	if got := readLines(t, f.readers[1]); !slices.Equal(got, []framed{{"more", 0}}) {
		t.Fatalf("reopened file: %v", got)
	}
	if p, r := testutil.ToFloat64(f.b.m.parked), testutil.ToFloat64(f.b.m.reopened); p != 2 || r != 1 {
		t.Fatalf("parked %v reopened %v", p, r)
	}
	if st := f.b.Stats(); st.Parked != 2 || st.Reopened != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBudgetNeverParksUnreadDataAndGoesOverInstead(t *testing.T) {
	// 0 has unread bytes, 1 holds an unfinished line, 2 is vetoed by the
	// source: none may be closed.
	f := newBudgetFixture(t, 3, 3, func(i int) bool { return i != 2 })
	appendFile(t, f.paths[0], "unread\n")
	if _, err := f.readers[0].Stat(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, f.paths[1], "unfinished")
	readLines(t, f.readers[1])
	if f.b.Room() {
		t.Fatal("room although every open file has unread data")
	}
	f.b.Deferred()
	f.b.MakeRoom()
	if got := f.parked(); len(got) != 0 {
		t.Fatalf("parked %v", got)
	}
	if o, d := testutil.ToFloat64(f.b.m.over), testutil.ToFloat64(f.b.m.deferred); o != 1 || d != 1 {
		t.Fatalf("over budget %v, deferred %v", o, d)
	}
	// Closing a file makes room again.
	if err := f.slots[2].Close(); err != nil {
		t.Fatal(err)
	}
	if f.b.Open() != 2 || testutil.ToFloat64(f.m.FilesOpen) != 2 {
		t.Fatalf("open %d, gauge %v after a close", f.b.Open(), testutil.ToFloat64(f.m.FilesOpen))
	}
}

func TestBudgetVanishedFileIsCounted(t *testing.T) {
	f := newBudgetFixture(t, 2, 1, nil)
	if got := f.parked(); !slices.Equal(got, []int{0}) {
		t.Fatalf("parked %v", got)
	}
	if err := os.Remove(f.paths[0]); err != nil {
		t.Fatal(err)
	}
	if err := f.slots[0].Reopen(f.paths[0]); !errors.Is(err, ErrVanished) {
		t.Fatalf("Reopen: %v", err)
	}
	if v := testutil.ToFloat64(f.b.m.vanished); v != 1 {
		t.Fatalf("vanished %v", v)
	}
	if err := f.slots[0].Close(); err != nil || f.b.Open() != 0 {
		t.Fatalf("Close: %v, open %d", err, f.b.Open())
	}
}

func TestDefaultMaxOpenFiles(t *testing.T) {
	for _, c := range []struct {
		limit uint64
		want  int
	}{{0, 1024}, {100, 64}, {1024, 512}, {65536, 32768}, {1 << 20, 65536}, {^uint64(0), 65536}} {
		if got := defaultMaxOpenFiles(c.limit); got != c.want {
			t.Errorf("limit %d: %d, want %d", c.limit, got, c.want)
		}
	}
	if n := DefaultMaxOpenFiles(); n < minDefaultOpenFiles || n > maxDefaultOpenFiles {
		t.Errorf("DefaultMaxOpenFiles() = %d", n)
	}
}
