package tail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t testing.TB, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// readAll reads r to EOF and returns the messages, acknowledging each batch.
func readAll(t testing.TB, r *Reader, buf []byte, now time.Time) []framed {
	t.Helper()
	var out []framed
	for {
		b, _, err := r.Read(buf, now)
		if b != nil {
			for _, e := range b.Events {
				out = append(out, framed{string(e.Message), e.Flags})
			}
			b.Ack.Release(event.Delivered)
		}
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestReaderLinesAndOffsets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "one\ntwo\r\nthr")
	meta := event.NewMeta("src", event.NewFields(event.Field{Key: "file", Value: event.StringValue(path)}))
	r, err := Open(path, Options{Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	now := time.Unix(100, 0)
	buf := make([]byte, 4)
	got := readAll(t, r, buf, now)
	if fmt.Sprint(got) != fmt.Sprint([]framed{{"one", 0}, {"two", 0}}) {
		t.Fatalf("got %q", got)
	}
	if r.Offset() != 12 || r.Progress().Committed() != 9 {
		t.Fatalf("offset %d committed %d", r.Offset(), r.Progress().Committed())
	}
	appendFile(t, path, "ee\n")
	b, _, _ := r.Read(buf, now)
	if b == nil || len(b.Events) != 1 || string(b.Events[0].Message) != "three" ||
		b.Events[0].Meta != meta || !b.Events[0].Timestamp.Equal(now) {
		t.Fatalf("batch %+v", b)
	}
	b.Ack.Release(event.Delivered)
	if c := r.Progress().Committed(); c != 15 {
		t.Fatalf("committed %d", c)
	}
}

func TestReaderPartialTimeoutAndFlush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "full\npart")
	r, err := Open(path, Options{PartialLineTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 64)
	t0 := time.Unix(1000, 0)
	if got := readAll(t, r, buf, t0); fmt.Sprint(got) != fmt.Sprint([]framed{{"full", 0}}) {
		t.Fatalf("got %q", got)
	}
	dl, ok := r.PartialDeadline()
	if !ok || !dl.Equal(t0.Add(time.Second)) {
		t.Fatalf("deadline %v %v", dl, ok)
	}
	// More bytes of the same line do not move the deadline.
	appendFile(t, path, "ial")
	if got := readAll(t, r, buf, t0.Add(500*time.Millisecond)); len(got) != 0 {
		t.Fatalf("flushed early: %q", got)
	}
	got := readAll(t, r, buf, t0.Add(time.Second))
	if fmt.Sprint(got) != fmt.Sprint([]framed{{"partial", event.Partial}}) {
		t.Fatalf("got %q", got)
	}
	if c := r.Progress().Committed(); c != 12 {
		t.Fatalf("committed %d", c)
	}
	// The rest of the line is a message of its own.
	appendFile(t, path, " rest\nlast")
	got = readAll(t, r, buf, t0.Add(2*time.Second))
	if fmt.Sprint(got) != fmt.Sprint([]framed{{" rest", 0}}) {
		t.Fatalf("got %q", got)
	}
	b := r.Flush(t0.Add(2 * time.Second))
	if b == nil || string(b.Events[0].Message) != "last" || b.Events[0].Flags != event.Partial {
		t.Fatalf("flush %+v", b)
	}
	b.Ack.Release(event.Delivered)
	if c := r.Progress().Committed(); c != 22 {
		t.Fatalf("committed %d", c)
	}
	if r.Flush(t0) != nil {
		t.Fatal("second flush produced a batch")
	}
}

func TestReaderNewPartialAfterLineGetsFreshDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "aa")
	r, err := Open(path, Options{PartialLineTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 64)
	t0 := time.Unix(1000, 0)
	readAll(t, r, buf, t0)
	appendFile(t, path, "a\nbb")
	if got := readAll(t, r, buf, t0.Add(900*time.Millisecond)); fmt.Sprint(got) != fmt.Sprint([]framed{{"aaa", 0}}) {
		t.Fatalf("got %q", got)
	}
	if got := readAll(t, r, buf, t0.Add(1100*time.Millisecond)); len(got) != 0 {
		t.Fatalf("new partial flushed with the old deadline: %q", got)
	}
}

func TestReaderTruncationAndCopytruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "aaaa\nbbbb\n")
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 64)
	now := time.Unix(1, 0)
	readAll(t, r, buf, now)

	// Plain truncation: the file is shorter than the offset.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "new\n")
	st, err := r.Stat()
	if err != nil || !st.Truncated {
		t.Fatalf("status %+v err %v", st, err)
	}
	if b, err := r.Restart(now); b != nil || err != nil {
		t.Fatalf("restart: %v %v", b, err)
	}
	if got := readAll(t, r, buf, now); fmt.Sprint(got) != fmt.Sprint([]framed{{"new", 0}}) {
		t.Fatalf("got %q", got)
	}

	// Copytruncate that grew past our offset before we looked: only the head
	// shows it.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "other content\n")
	st, _ = r.Stat()
	if !st.Truncated {
		t.Fatalf("head change not detected: %+v", st)
	}
	r.Restart(now)
	if got := readAll(t, r, buf, now); fmt.Sprint(got) != fmt.Sprint([]framed{{"other content", 0}}) {
		t.Fatalf("got %q", got)
	}
	// Plain growth is not a truncation, and extends the fingerprint.
	appendFile(t, path, strings.Repeat("x", 2000)+"\n")
	st, _ = r.Stat()
	if st.Truncated || !st.Grew {
		t.Fatalf("status %+v", st)
	}
	if fp := r.Fingerprint(); fp.HeadLen != MaxHead {
		t.Fatalf("head len %d", fp.HeadLen)
	}
	if fp, _ := r.Progress().Snapshot(); fp.HeadLen != MaxHead {
		t.Fatalf("progress head len %d", fp.HeadLen)
	}
}

// A copytruncate followed by exactly as many bytes as the file had (found
// by the source conformance suite): the size does not change, the
// modification time does, and the head shows the new content.
func TestReaderContentReplacedAtTheSameSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "round0-0\nround0-1\n")
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 64)
	now := time.Unix(1, 0)
	readAll(t, r, buf, now)
	// The modification time must move for the check to see it; file
	// systems with coarse timestamps need a moment.
	old, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, "round1-0\nround1-1\n")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(old.ModTime()) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	st, err := r.Stat()
	if err != nil || !st.Truncated || st.Grew {
		t.Fatalf("status %+v err %v: the replaced content is not seen", st, err)
	}
	r.Restart(now)
	if got := readAll(t, r, buf, now); fmt.Sprint(got) != fmt.Sprint([]framed{{"round1-0", 0}, {"round1-1", 0}}) {
		t.Fatalf("got %q", got)
	}
	// Unchanged since: nothing to see.
	if st, err := r.Stat(); err != nil || st.Truncated {
		t.Fatalf("status %+v err %v", st, err)
	}
}

func TestReaderRestartFlushesHeldLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "line\nheld")
	r, _ := Open(path, Options{})
	defer r.Close()
	buf := make([]byte, 64)
	readAll(t, r, buf, time.Unix(1, 0))
	writeFile(t, path, "x\n")
	st, _ := r.Stat()
	if !st.Truncated {
		t.Fatal("not truncated")
	}
	b, err := r.Restart(time.Unix(1, 0))
	if err != nil || b == nil || string(b.Events[0].Message) != "held" || b.Events[0].Flags != event.Partial {
		t.Fatalf("%+v %v", b, err)
	}
	b.Ack.Release(event.Delivered)
	if c := r.Progress().Committed(); c != 0 {
		t.Fatalf("ack of the old content moved the offset to %d", c)
	}
}

func TestReaderDeletedWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "one\ntwo\n")
	r, _ := Open(path, Options{})
	defer r.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	st, err := r.Stat()
	if err != nil || !st.Deleted {
		t.Fatalf("%+v %v", st, err)
	}
	got := readAll(t, r, make([]byte, 64), time.Unix(1, 0))
	if len(got) != 2 {
		t.Fatalf("got %q", got)
	}
}

func TestReaderMaxBatchEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	var want []framed
	var sb strings.Builder
	for i := 0; i < 25; i++ {
		fmt.Fprintf(&sb, "%d\n", i)
		want = append(want, framed{fmt.Sprint(i), 0})
	}
	writeFile(t, path, sb.String())
	r, _ := Open(path, Options{MaxBatchEvents: 10})
	defer r.Close()
	buf := make([]byte, 1<<10)
	var got []framed
	batches := 0
	for {
		b, _, err := r.Read(buf, time.Unix(1, 0))
		if b != nil {
			batches++
			if len(b.Events) > 10 {
				t.Fatalf("batch of %d", len(b.Events))
			}
			for _, e := range b.Events {
				got = append(got, framed{string(e.Message), e.Flags})
			}
			b.Ack.Release(event.Delivered)
		}
		if err != nil {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || batches != 3 {
		t.Fatalf("%d batches: %q", batches, got)
	}
	if r.Progress().Committed() != int64(sb.Len()) {
		t.Fatal(r.Progress().Committed())
	}
}

func TestReaderRewindAfterFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "a\nb\n")
	r, _ := Open(path, Options{MaxBatchEvents: 1})
	defer r.Close()
	buf := make([]byte, 64)
	b1, _, _ := r.Read(buf, time.Unix(1, 0))
	b2, _, _ := r.Read(buf, time.Unix(1, 0))
	b1.Ack.Release(event.Delivered)
	b2.Ack.Release(event.Failed)
	if !r.Progress().Failed() || r.Progress().Committed() != 2 {
		t.Fatal("failure not recorded")
	}
	r.Rewind()
	if got := readAll(t, r, buf, time.Unix(1, 0)); fmt.Sprint(got) != fmt.Sprint([]framed{{"b", 0}}) {
		t.Fatalf("got %q", got)
	}
	if r.Progress().Committed() != 4 {
		t.Fatal(r.Progress().Committed())
	}
}

func TestReaderHugeLineBoundedMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("before\n")
	chunk := bytes.Repeat([]byte("y"), 1<<20)
	for i := 0; i < 10; i++ {
		f.Write(chunk)
	}
	f.WriteString("\nafter\n")
	f.Close()

	m := metrics.ForTest("source", "file", "x")
	r, err := Open(path, Options{MaxLineBytes: 1000, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 64<<10)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	got := readAll(t, r, buf, time.Unix(1, 0))
	runtime.ReadMemStats(&ms1)
	if len(got) != 3 || got[0].msg != "before" || len(got[1].msg) != 1000 ||
		got[1].flags != event.Truncated || got[2].msg != "after" {
		t.Fatalf("got %d lines, flags %v", len(got), got[1].flags)
	}
	if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 2<<20 {
		t.Fatalf("reading a 10 MiB line allocated %d bytes", alloc)
	}
	if n := testutil.ToFloat64(m.Errors("line_truncated")); n != 1 {
		t.Fatalf("line_truncated = %v", n)
	}
	if n := testutil.ToFloat64(m.ReceivedEvents); n != 3 {
		t.Fatalf("received events = %v", n)
	}
}

func TestReaderStartClamped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "abc\n")
	r, _ := Open(path, Options{})
	defer r.Close()
	r.Start(100)
	if r.Offset() != 4 || r.Progress().Committed() != 4 {
		t.Fatal(r.Offset())
	}
}

func TestHeadMatches(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, a, "hello world\n")
	writeFile(t, b, "hello there\n")
	ra, _ := Open(a, Options{})
	defer ra.Close()
	rb, _ := Open(b, Options{})
	defer rb.Close()
	fp := ra.Fingerprint()
	if fp.HeadLen != 12 || fp.Ino == 0 {
		t.Fatalf("%+v", fp)
	}
	if ok, _ := ra.HeadMatches(fp); !ok {
		t.Fatal("own head does not match")
	}
	if ok, _ := rb.HeadMatches(fp); ok {
		t.Fatal("other head matches")
	}
	short := Fingerprint{HeadLen: 5, HeadCRC: crc([]byte("hello"))}
	if ok, _ := rb.HeadMatches(short); !ok {
		t.Fatal("shorter fingerprint of the same prefix does not match")
	}
	if ok, _ := rb.HeadMatches(Fingerprint{HeadLen: 100}); ok {
		t.Fatal("fingerprint longer than the file matches")
	}
}

func TestReaderMatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "hello world\n")
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fp := r.Fingerprint()
	for _, c := range []struct {
		fp   Fingerprint
		off  int64
		want Match
	}{
		{fp, 5, Resume},
		{fp, 12, Resume},
		{fp, 13, Truncated},
		{Fingerprint{FileID: fp.FileID, HeadLen: 5, HeadCRC: crc([]byte("hello"))}, 3, Resume},
		{Fingerprint{FileID: fp.FileID, HeadLen: 5, HeadCRC: crc([]byte("jello"))}, 3, Reused},
		{Fingerprint{FileID: FileID{Dev: fp.Dev, Ino: fp.Ino + 1}, HeadLen: fp.HeadLen, HeadCRC: fp.HeadCRC}, 3, Reused},
	} {
		if got, err := r.Match(c.fp, c.off); got != c.want || err != nil {
			t.Errorf("Match(%+v, %d) = %v, %v; want %v", c.fp, c.off, got, err, c.want)
		}
	}
}

// An AppendOnly reader does not read the head of a file that grew past
// MaxHead (logmon never rewrites its files), but still sees a file
// shorter than its offset, and still extends a short fingerprint.
func TestReaderAppendOnlyChecksOnlyShrinkage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "aaaa\n")
	r, err := Open(path, Options{AppendOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 4096)
	now := time.Unix(1, 0)
	readAll(t, r, buf, now)
	appendFile(t, path, strings.Repeat("x", 2000)+"\n")
	if st, err := r.Stat(); err != nil || st.Truncated || !st.Grew {
		t.Fatalf("status %+v err %v", st, err)
	}
	if fp := r.Fingerprint(); fp.HeadLen != MaxHead {
		t.Fatalf("head len %d: the short fingerprint was not extended", fp.HeadLen)
	}
	readAll(t, r, buf, now)
	// Rewritten in place past the offset: an AppendOnly reader trusts the
	// writer and does not look (a reader without it sees the new head).
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, strings.Repeat("y", 3000)+"\n")
	if st, err := r.Stat(); err != nil || st.Truncated {
		t.Fatalf("status %+v err %v: the head was read", st, err)
	}
	// Shorter than the offset: truncated, whatever the writer promised.
	if err := os.Truncate(path, 10); err != nil {
		t.Fatal(err)
	}
	if st, err := r.Stat(); err != nil || !st.Truncated {
		t.Fatalf("status %+v err %v: the truncation is not seen", st, err)
	}
}
