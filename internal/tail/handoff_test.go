package tail

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

// openPair opens two files of a chain with the given contents.
func openPair(t *testing.T, first, second string, o Options) (*Reader, *Reader) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app.stdout.0"), first)
	writeFile(t, filepath.Join(dir, "app.stdout.1"), second)
	a, err := Open(filepath.Join(dir, "app.stdout.0"), o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(filepath.Join(dir, "app.stdout.1"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

func TestHandOffJoinsSplitLine(t *testing.T) {
	a, b := openPair(t, "one\nhalf of a ", "long line\ntwo\n", Options{})
	buf := make([]byte, 64)
	now := time.Unix(1000, 0)
	if got := readAll(t, a, buf, now); !slices.Equal(got, []framed{{"one", 0}}) {
		t.Fatalf("first file: %v", got)
	}
	if err := a.HandOff(b); err != nil {
		t.Fatal(err)
	}
	if a.Holding() || !b.Holding() {
		t.Fatalf("holding after hand-off: first %v, next %v", a.Holding(), b.Holding())
	}
	// The deadline moved with the bytes.
	if dl, ok := b.PartialDeadline(); !ok || !dl.Equal(now.Add(DefaultPartialLineTimeout)) {
		t.Fatalf("deadline %v %v", dl, ok)
	}
	// The first file stays committed at the start of the split line.
	if c := a.Progress().Committed(); c != 4 {
		t.Fatalf("first file committed %d, want 4", c)
	}
	got := readAll(t, b, buf, now.Add(time.Second))
	if !slices.Equal(got, []framed{{"half of a long line", 0}, {"two", 0}}) {
		t.Fatalf("next file: %v", got)
	}
	if c := b.Progress().Committed(); c != 14 {
		t.Fatalf("next file committed %d, want 14", c)
	}
}

func TestHandOffOfFlushedAndTruncatedLines(t *testing.T) {
	// The head was flushed as partial: the rest is a message of its own.
	a, b := openPair(t, "head", " rest\n", Options{PartialLineTimeout: time.Second})
	buf := make([]byte, 64)
	now := time.Unix(1000, 0)
	readAll(t, a, buf, now)
	if got := readAll(t, a, buf, now.Add(2*time.Second)); !slices.Equal(got, []framed{{"head", event.Partial}}) {
		t.Fatalf("flushed: %v", got)
	}
	if err := a.HandOff(b); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, b, buf, now.Add(2*time.Second)); !slices.Equal(got, []framed{{" rest", 0}}) {
		t.Fatalf("rest: %v", got)
	}

	// A truncated head: the rest of the line is skipped in the next file.
	a, b = openPair(t, "0123456789", "abc\nnext\n", Options{MaxLineBytes: 4})
	readAll(t, a, buf, now)
	if got := a.Flush(now); got == nil || string(got.Events[0].Message) != "0123" {
		t.Fatalf("truncated flush: %v", got)
	} else {
		got.Ack.Release(event.Delivered)
	}
	if err := a.HandOff(b); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, b, buf, now); !slices.Equal(got, []framed{{"next", 0}}) {
		t.Fatalf("after a truncated head: %v", got)
	}
}

func TestHandOffNothingHeldOrNextRead(t *testing.T) {
	a, b := openPair(t, "whole\n", "next\n", Options{})
	buf := make([]byte, 64)
	readAll(t, a, buf, time.Unix(1000, 0))
	if err := a.HandOff(b); err != nil || b.Holding() {
		t.Fatalf("nothing held: err %v, next holding %v", err, b.Holding())
	}
	readAll(t, b, buf, time.Unix(1000, 0))
	a2, _ := openPair(t, "partial", "x\n", Options{})
	readAll(t, a2, buf, time.Unix(1000, 0))
	if err := a2.HandOff(b); !errors.Is(err, ErrHandOff) {
		t.Fatalf("hand-off to a file read already: %v", err)
	}
}
