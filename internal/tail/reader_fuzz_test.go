package tail

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

// FuzzMatch compares a file with arbitrary saved positions, as a source
// does with what it finds in a checkpoint file that may be damaged or
// hand-edited. It must never panic; it may only say Resume when the
// position's head really is the file's head and the offset lies within
// the file; and Start must clamp any offset into the file.
func FuzzMatch(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), 5, uint32(0), int64(6), false)
	f.Add([]byte(""), 0, uint32(0), int64(0), true)
	f.Add([]byte("abc"), -1, uint32(7), int64(-4), true)
	f.Add(bytes.Repeat([]byte("x"), 2000), MaxHead+1, uint32(1), int64(1<<62), true)
	f.Fuzz(func(t *testing.T, content []byte, headLen int, headCRC uint32, offset int64, sameID bool) {
		path := filepath.Join(t.TempDir(), "f.log")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		fp := Fingerprint{HeadLen: headLen, HeadCRC: headCRC}
		if sameID {
			fp.FileID = r.ID()
		}
		if headLen >= 0 && headLen <= len(content) && headLen <= MaxHead && headCRC%2 == 0 {
			fp.HeadCRC = crc(content[:headLen]) // a head that matches, half the time
		}
		m, err := r.Match(fp, offset)
		if err != nil {
			t.Fatalf("Match: %v", err)
		}
		// A saved head of length 0 (the file was empty when it was
		// checkpointed) says nothing about the content: identity alone
		// decides, whatever the saved checksum.
		trueHead := headLen == 0 ||
			headLen > 0 && headLen <= len(content) && headLen <= MaxHead && crc(content[:headLen]) == fp.HeadCRC
		if m == Resume && (!sameID || !trueHead || offset > int64(len(content))) {
			t.Fatalf("Resume for head %d/%08x offset %d of a %d-byte file (same id %v, head matches %v)",
				headLen, fp.HeadCRC, offset, len(content), sameID, trueHead)
		}
		if ok, err := r.HeadMatches(fp); err != nil || ok != trueHead {
			t.Fatalf("HeadMatches = %v, %v; want %v", ok, err, trueHead)
		}
		r.Start(offset)
		if o := r.Offset(); o < 0 || o > int64(len(content)) {
			t.Fatalf("Start(%d) put the reader at %d of %d bytes", offset, o, len(content))
		}
	})
}

// FuzzReaderChain writes input into a chain of two files the way logmon
// does (the first file ends at an arbitrary byte, even inside a line, and
// the second continues it) in arbitrary increments, and reads them while
// they grow, with an arbitrary read buffer size and partial-line
// timeouts firing at arbitrary points. Every byte must be accounted for:
// the messages, each followed by '\n' unless flagged partial, rebuild the
// input (no '\r', no line over the limit), and acknowledging every batch
// commits both files to their end.
func FuzzReaderChain(f *testing.F) {
	f.Add([]byte("one\ntwo\nthree\n"), uint16(6), uint8(3), []byte{2, 9, 1})
	f.Add([]byte("a long line split across files\nnext\n"), uint16(10), uint8(1), []byte{0, 0, 0xff})
	f.Add([]byte("no newline at all"), uint16(4), uint8(16), []byte{0x81, 3})
	f.Add([]byte("\n\n\n"), uint16(1), uint8(1), []byte{1, 1, 1, 0x80})
	f.Fuzz(func(t *testing.T, input []byte, split uint16, bufSize uint8, steps []byte) {
		input = bytes.ReplaceAll(input, []byte{'\r'}, []byte{'r'})
		cut := int(split) % (len(input) + 1)
		dir := t.TempDir()
		paths := [2]string{filepath.Join(dir, "t.stdout.0"), filepath.Join(dir, "t.stdout.1")}
		parts := [2][]byte{input[:cut], input[cut:]}
		written := [2]int{}
		for _, p := range paths {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		grow := func(i, n int) {
			n = min(n, len(parts[i])-written[i])
			if n <= 0 {
				return
			}
			f, err := os.OpenFile(paths[i], os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(parts[i][written[i] : written[i]+n]); err != nil {
				t.Fatal(err)
			}
			f.Close()
			written[i] += n
		}
		o := Options{MaxLineBytes: len(input) + 1, PartialLineTimeout: time.Second}
		var readers [2]*Reader
		for i, p := range paths {
			r, err := Open(p, o)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			readers[i] = r
		}
		var rebuilt []byte
		partialEnds := map[int]bool{} // where in rebuilt a partial message ended
		var acks []*event.Ack
		take := func(b *event.Batch) {
			if b == nil {
				return
			}
			for _, e := range b.Events {
				rebuilt = append(rebuilt, e.Message...)
				if e.Flags&event.Partial == 0 {
					rebuilt = append(rebuilt, '\n')
				} else {
					partialEnds[len(rebuilt)] = true
				}
			}
			acks = append(acks, b.Ack)
		}
		buf := make([]byte, int(bufSize%32)+1)
		now := time.Unix(1000, 0)
		cur := 0
		readAvailable := func() {
			for {
				b, _, err := readers[cur].Read(buf, now)
				take(b)
				if errors.Is(err, io.EOF) {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, s := range steps {
			switch {
			case s&0x80 != 0:
				now = now.Add(time.Second) // the held line's timeout fires at the next read
			case s&0x40 != 0 && cur == 0 && written[0] == len(parts[0]):
				readAvailable()
				if err := readers[0].HandOff(readers[1]); err != nil {
					t.Fatal(err)
				}
				cur = 1
			default:
				grow(cur, int(s&0x3f))
			}
			if _, err := readers[cur].Stat(); err != nil {
				t.Fatal(err)
			}
			readAvailable()
		}
		// The writer finishes; the reader reads both files to their end.
		grow(0, len(parts[0]))
		if cur == 0 {
			readAvailable()
			if err := readers[0].HandOff(readers[1]); err != nil {
				t.Fatal(err)
			}
			cur = 1
		}
		grow(1, len(parts[1]))
		readAvailable()
		take(readers[1].Flush(now))
		if !sameBytes(input, rebuilt, partialEnds) {
			t.Fatalf("split at %d, buffer %d, steps %v: rebuilt %q from %q", cut, len(buf), steps, rebuilt, input)
		}
		for _, a := range acks {
			a.Release(event.Delivered)
		}
		if c := readers[1].Progress().Committed(); c != int64(len(parts[1])) {
			t.Fatalf("second file committed at %d of %d", c, len(parts[1]))
		}
		if c, want := readers[0].Progress().Committed(), readers[0].LineStart(); c != want {
			t.Fatalf("first file committed at %d, its last line started at %d", c, want)
		}
	})
}

// sameBytes reports whether rebuilt is input with the '\n' removed that
// directly follow a partial message (ends: offsets in rebuilt).
func sameBytes(input, rebuilt []byte, ends map[int]bool) bool {
	j := 0
	for i := 0; i < len(input); i++ {
		if input[i] == '\n' && ends[j] {
			delete(ends, j) // the empty rest of the flushed line
			continue
		}
		if j >= len(rebuilt) || rebuilt[j] != input[i] {
			return false
		}
		j++
	}
	return j == len(rebuilt)
}
