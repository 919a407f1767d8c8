package disk

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

// cleanSegment writes n batches of three events through a buffer and returns
// the bytes of its single segment and the offsets of its records (plus the
// end).
func cleanSegment(t testing.TB, n int) ([]byte, []int64) {
	dir := filepath.Join(t.TempDir(), "src")
	b, err := Open(Options{Dir: dir, Limits: Limits{MaxSize: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		bt := batch(fmt.Sprintf("b%d", i), 3, nil)
		if err := b.Push(context.Background(), bt); err != nil {
			t.Fatal(err)
		}
		bt.Ack.Release(event.Delivered)
	}
	b.Close()
	data, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	w := &window{r: bytes.NewReader(data)}
	offs := []int64{}
	for off := segmentHeaderLen; off < int64(len(data)); {
		res, err := scanNext(w, off, int64(len(data)))
		if err != nil || !res.found || res.bad != nil {
			t.Fatalf("clean segment does not scan: %+v %v", res, err)
		}
		offs = append(offs, res.off)
		off = res.end
	}
	return data, append(offs, int64(len(data)))
}

// recoverFrom opens a buffer whose only segment holds data and returns the
// batches it delivers (by name) and the number of damage reports.
func recoverFrom(t *testing.T, data []byte) (got []string, reports int, log string) {
	t.Helper()
	h := newHarness(t)
	if err := os.MkdirAll(h.dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, segmentName(1)), data, 0o640); err != nil {
		t.Fatal(err)
	}
	b := h.open()
	for _, m := range drainAll(t, b) {
		name, _, _ := strings.Cut(m, "-")
		if len(got) == 0 || got[len(got)-1] != name {
			got = append(got, name)
		}
	}
	b.Close()
	return got, int(h.corrupt()), h.log.String()
}

func batchNames(from, to int, skip ...int) []string {
	var out []string
	for i := from; i < to; i++ {
		if !containsInt(skip, i) {
			out = append(out, fmt.Sprintf("b%d", i))
		}
	}
	return out
}

func containsInt(list []int, x int) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

func TestTruncatedSegmentKeepsTheRecordsBeforeTheCut(t *testing.T) {
	data, offs := cleanSegment(t, 6)
	for cut := int64(len(data)) - 1; cut >= segmentHeaderLen; cut -= 7 {
		complete := 0
		for complete < 6 && offs[complete+1] <= cut {
			complete++
		}
		got, reports, log := recoverFrom(t, data[:cut])
		sameStrings(t, got, batchNames(0, complete))
		torn := cut != offs[complete]
		if torn && (reports != 1 || !strings.Contains(log, fmt.Sprintf("offset=%d", offs[complete])) || !strings.Contains(log, segmentName(1))) {
			t.Fatalf("cut at %d: %d reports, want one naming the file and offset %d:\n%s", cut, reports, offs[complete], log)
		}
		if !torn && reports != 0 {
			t.Fatalf("cut at a record boundary %d reported damage:\n%s", cut, log)
		}
	}
}

func TestBitFlipLosesOnlyTheRecordItHits(t *testing.T) {
	data, offs := cleanSegment(t, 5)
	for pos := int64(0); pos < int64(len(data)); pos += 3 {
		damaged := append([]byte(nil), data...)
		damaged[pos] ^= 0x10
		hit := -1
		for i := 0; i < 5; i++ {
			if pos >= offs[i] && pos < offs[i+1] {
				hit = i
			}
		}
		got, reports, log := recoverFrom(t, damaged)
		if hit < 0 {
			// The segment header: reported, every record kept.
			sameStrings(t, got, batchNames(0, 5))
		} else {
			sameStrings(t, got, batchNames(0, 5, hit))
		}
		if reports != 1 {
			t.Fatalf("flip at %d (record %d): %d reports, want 1:\n%s", pos, hit, reports, log)
		}
	}
}

func TestGarbageBetweenRecordsIsSkipped(t *testing.T) {
	data, offs := cleanSegment(t, 4)
	rng := rand.New(rand.NewSource(1))
	for _, size := range []int{1, 15, 16, 17, 1000, 200 << 10} {
		garbage := make([]byte, size)
		rng.Read(garbage)
		// Include a record magic so that resynchronisation has to check
		// the header checksum.
		if size > 8 {
			copy(garbage[size/2:], recordMagic[:])
		}
		damaged := append(append(append([]byte(nil), data[:offs[2]]...), garbage...), data[offs[2]:]...)
		got, reports, log := recoverFrom(t, damaged)
		sameStrings(t, got, batchNames(0, 4))
		if reports != 1 || !strings.Contains(log, fmt.Sprintf("offset=%d length=%d", offs[2], size)) {
			t.Fatalf("garbage of %d bytes: %d reports:\n%s", size, reports, log)
		}
	}
}

func TestZeroedTailAndEmptySegments(t *testing.T) {
	data, _ := cleanSegment(t, 3)
	// A file system may leave zeroes after a crash where data was not
	// written back.
	got, reports, _ := recoverFrom(t, append(append([]byte(nil), data...), make([]byte, 4096)...))
	sameStrings(t, got, batchNames(0, 3))
	if reports != 1 {
		t.Fatalf("%d reports for a zeroed tail", reports)
	}
	for _, d := range [][]byte{nil, []byte("drv"), []byte(segmentHeader)} {
		got, _, _ := recoverFrom(t, d)
		if len(got) != 0 {
			t.Fatalf("segment %q delivered %v", d, got)
		}
	}
}

func TestDamageInSeveralSegmentsAndRestarts(t *testing.T) {
	h := newHarness(t)
	h.opt.SegmentSize = 1 << 10
	b := h.open()
	for i := 0; i < 60; i++ {
		push(t, b, batch(fmt.Sprintf("m%02d", i), 3, nil))
	}
	b.Close()
	files := segmentFiles(t, h.dir)
	if len(files) < 4 {
		t.Fatalf("want several segments, have %d", len(files))
	}
	// Flip a byte in the middle of the second segment and cut the last one.
	mid, _ := os.ReadFile(files[1])
	mid[len(mid)/2] ^= 0xFF
	os.WriteFile(files[1], mid, 0o640)
	last, _ := os.ReadFile(files[len(files)-1])
	os.WriteFile(files[len(files)-1], last[:len(last)-5], 0o640)

	b = h.open()
	if h.corrupt() != 2 {
		t.Fatalf("%v damage reports at Open, want 2:\n%s", h.corrupt(), h.log)
	}
	// Read half, restart, read the rest: damage is not reported again by the
	// reader, and everything valid arrives.
	var got []string
	for i := 0; i < 10; i++ {
		bt := next(t, b)
		got = append(got, messages(bt)...)
		bt.Ack.Release(event.Delivered)
	}
	b.Close()
	b = h.open()
	got = append(got, drainAll(t, b)...)
	if len(got) != 58*3 {
		t.Fatalf("delivered %d events, want %d (two damaged records lost)", len(got), 58*3)
	}
	if h.corrupt() < 3 {
		t.Fatalf("the second run did not report the damage ahead of it")
	}
}

// FuzzRecover writes arbitrary bytes as a segment (alone, or after a valid
// one) and checks that Open and reading everything neither panic nor hang.
func FuzzRecover(f *testing.F) {
	data, offs := cleanSegment(f, 3)
	f.Add(data, false)
	f.Add(data[:offs[2]+5], false)
	f.Add([]byte{}, true)
	f.Add(append([]byte(segmentHeader), recordMagic[:]...), true)
	f.Fuzz(func(t *testing.T, seg []byte, second bool) {
		dir := t.TempDir()
		if second {
			if err := os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o640); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, segmentName(2)), seg, 0o640); err != nil {
			t.Fatal(err)
		}
		b, err := Open(Options{Dir: dir, Limits: Limits{MaxSize: 1 << 20}, Logger: discardLogger})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		// Open counted the valid records; the reader must find exactly
		// those, so reading ends when the count reaches zero.
		for b.Stats().Records > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			bt, err := b.Next(ctx)
			cancel()
			if err != nil {
				t.Fatalf("Next with %d records left: %v", b.Stats().Records, err)
			}
			for _, e := range bt.Events {
				if e.Meta != nil {
					_ = e.Meta.JSONMembers()
				}
			}
			bt.Ack.Release(event.Delivered)
		}
		if s := b.Stats(); s.Records != 0 || s.Events != 0 {
			t.Fatalf("after reading everything: %+v", s)
		}
	})
}
