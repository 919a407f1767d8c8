package tail

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/drover-dev/drover/internal/event"
)

type framed struct {
	msg   string
	flags event.Flags
}

// referenceLines frames input the slow, obvious way: bytes.Split by '\n',
// strip one trailing '\r', truncate to max; the last segment (unterminated)
// becomes a partial message unless it is empty.
func referenceLines(input []byte, max int) []framed {
	parts := bytes.Split(input, []byte{'\n'})
	var out []framed
	for i, p := range parts {
		last := i == len(parts)-1
		line := p
		var fl event.Flags
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > max {
			line, fl = line[:max], event.Truncated
		}
		if last {
			if len(line) == 0 && fl == 0 {
				break
			}
			fl |= event.Partial
		}
		out = append(out, framed{string(line), fl})
	}
	return out
}

// frameChunks feeds input to a Framer in chunks cut at the given points.
func frameChunks(input []byte, max int, cuts []int) []framed {
	f := NewFramer(max)
	var out []framed
	prev := 0
	feed := func(chunk []byte) {
		for len(chunk) > 0 {
			line, fl, n, res := f.Next(chunk)
			if n <= 0 {
				panic("no progress")
			}
			chunk = chunk[n:]
			if res == Line {
				out = append(out, framed{string(line), fl})
			}
		}
	}
	for _, c := range cuts {
		if c < prev || c > len(input) {
			continue
		}
		feed(input[prev:c])
		prev = c
	}
	feed(input[prev:])
	if line, fl, ok := f.Flush(); ok {
		out = append(out, framed{string(line), fl})
	}
	if f.Held() > max+1 {
		panic(fmt.Sprintf("framer holds %d bytes, max %d", f.Held(), max))
	}
	return out
}

func TestFramerTable(t *testing.T) {
	T, P := event.Truncated, event.Partial
	cases := []struct {
		name  string
		in    string
		max   int
		chunk int
		want  []framed
	}{
		{"empty", "", 10, 1, nil},
		{"one line", "abc\n", 10, 100, []framed{{"abc", 0}}},
		{"empty lines", "\n\n", 10, 1, []framed{{"", 0}, {"", 0}}},
		{"crlf", "a\r\nb\r\n", 10, 1, []framed{{"a", 0}, {"b", 0}}},
		{"only one cr stripped", "a\r\r\n", 10, 2, []framed{{"a\r", 0}}},
		{"cr inside", "a\rb\n", 10, 100, []framed{{"a\rb", 0}}},
		{"partial at end", "abc\ndef", 10, 3, []framed{{"abc", 0}, {"def", P}}},
		{"lone cr at end", "abc\n\r", 10, 3, []framed{{"abc", 0}}},
		{"exactly max", "abcd\n", 4, 1, []framed{{"abcd", 0}}},
		{"exactly max crlf", "abcd\r\n", 4, 1, []framed{{"abcd", 0}}},
		{"max plus one", "abcde\n", 4, 1, []framed{{"abcd", T}}},
		{"max cr x", "abcd\rx\n", 4, 1, []framed{{"abcd", T}}},
		{"long in one chunk", "abcdefgh\nxy\n", 4, 100, []framed{{"abcd", T}, {"xy", 0}}},
		{"long partial", "abcdefgh", 4, 3, []framed{{"abcd", T | P}}},
		{"nul and invalid utf8", "a\x00\xff\xfeb\n", 10, 2, []framed{{"a\x00\xff\xfeb", 0}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cuts []int
			for i := c.chunk; i < len(c.in); i += c.chunk {
				cuts = append(cuts, i)
			}
			got := frameChunks([]byte(c.in), c.max, cuts)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			if ref := referenceLines([]byte(c.in), c.max); fmt.Sprint(ref) != fmt.Sprint(c.want) {
				t.Fatalf("reference disagrees: %q", ref)
			}
		})
	}
}

func TestFramerFlushContinuation(t *testing.T) {
	f := NewFramer(100)
	_, _, _, res := f.Next([]byte("hello wo"))
	if res != NeedMore {
		t.Fatal(res)
	}
	line, fl, ok := f.Flush()
	if !ok || string(line) != "hello wo" || fl != event.Partial {
		t.Fatalf("flush: %q %v %v", line, fl, ok)
	}
	if f.Holding() || f.Flushable() {
		t.Fatal("still holding after flush")
	}
	line, fl, n, res := f.Next([]byte("rld\nnext\n"))
	if res != Line || string(line) != "rld" || fl != 0 || n != 4 {
		t.Fatalf("continuation: %q %v %d %v", line, fl, n, res)
	}
	// A continuation that is empty (the newline came right after the flush)
	// produces no message.
	f.Next([]byte("abc\r"))
	if _, _, ok := f.Flush(); !ok {
		t.Fatal("no flush")
	}
	if _, _, _, res := f.Next([]byte("\n")); res != Skipped {
		t.Fatalf("empty continuation: %v", res)
	}
	// A lone '\r' is not flushed.
	f.Next([]byte("\r"))
	if f.Flushable() {
		t.Fatal("lone CR flushable")
	}
	if _, _, ok := f.Flush(); ok {
		t.Fatal("lone CR flushed")
	}
	line, _, _, _ = f.Next([]byte("x\n"))
	if string(line) != "\rx" {
		t.Fatalf("got %q", line)
	}
}

func TestFramerTruncatedFlushSkipsRest(t *testing.T) {
	f := NewFramer(4)
	f.Next([]byte("abcdefg"))
	line, fl, ok := f.Flush()
	if !ok || string(line) != "abcd" || fl != event.Truncated|event.Partial {
		t.Fatalf("flush: %q %v", line, fl)
	}
	if _, _, _, res := f.Next(bytes.Repeat([]byte("z"), 100)); res != NeedMore {
		t.Fatal(res)
	}
	if f.Held() != 0 {
		t.Fatalf("skipping holds %d bytes", f.Held())
	}
	if _, _, _, res := f.Next([]byte("zz\n")); res != Skipped {
		t.Fatal(res)
	}
	line, fl, _, res := f.Next([]byte("ok\n"))
	if res != Line || string(line) != "ok" || fl != 0 {
		t.Fatalf("%q %v %v", line, fl, res)
	}
}

func TestFramerLongLineBoundedMemory(t *testing.T) {
	f := NewFramer(1024)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for i := 0; i < 160; i++ { // 10 MiB without a newline
		f.Next(chunk)
		if f.Held() > 1025 {
			t.Fatalf("holding %d bytes", f.Held())
		}
	}
	line, fl, _, res := f.Next([]byte("\n"))
	if res != Line || len(line) != 1024 || fl != event.Truncated {
		t.Fatalf("len %d flags %v res %v", len(line), fl, res)
	}
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte("a\nbb\r\nccc"), uint8(2), []byte{1, 3, 5})
	f.Add([]byte("\n\n\r\n\r"), uint8(1), []byte{0, 1, 2})
	f.Add([]byte("abcdefghij\nk\r\n"), uint8(3), []byte{4, 11})
	f.Add([]byte("\x00\xff\xfe\n\xc3"), uint8(1), []byte{2})
	f.Fuzz(func(t *testing.T, input []byte, max uint8, cutBytes []byte) {
		m := int(max%32) + 1
		var cuts []int
		pos := 0
		for _, c := range cutBytes {
			pos += int(c % 16)
			cuts = append(cuts, pos)
		}
		got := frameChunks(input, m, cuts)
		want := referenceLines(input, m)
		if len(got) != len(want) {
			t.Fatalf("max %d cuts %v: %d lines, want %d\ngot  %q\nwant %q", m, cuts, len(got), len(want), got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("max %d cuts %v: line %d = %q, want %q", m, cuts, i, got[i], want[i])
			}
		}
	})
}

// FuzzFramerFlushes checks that flushes at arbitrary points (partial-line
// timeouts) neither lose nor duplicate a byte: with no '\r' and no line
// over Max, the messages, each followed by '\n' unless flagged partial, and
// a '\n' for every line end without a message, rebuild the input.
func FuzzFramerFlushes(f *testing.F) {
	f.Add([]byte("abc\ndef\n\nxyz"), []byte{2, 5, 9})
	f.Add([]byte("\n\n\n"), []byte{0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, input []byte, points []byte) {
		input = bytes.ReplaceAll(input, []byte{'\r'}, []byte{'r'})
		fr := NewFramer(len(input) + 1)
		var rebuilt []byte
		emit := func(line []byte, fl event.Flags) {
			rebuilt = append(rebuilt, line...)
			if fl&event.Partial == 0 {
				rebuilt = append(rebuilt, '\n')
			}
		}
		feed := func(chunk []byte) {
			for len(chunk) > 0 {
				line, fl, n, res := fr.Next(chunk)
				chunk = chunk[n:]
				switch res {
				case Line:
					emit(line, fl)
				case Skipped:
					rebuilt = append(rebuilt, '\n')
				}
			}
		}
		prev, pos := 0, 0
		for _, p := range points {
			pos += int(p % 8)
			if pos > len(input) {
				break
			}
			feed(input[prev:pos])
			prev = pos
			if line, fl, ok := fr.Flush(); ok {
				emit(line, fl)
			}
		}
		feed(input[prev:])
		if line, fl, ok := fr.Flush(); ok {
			emit(line, fl)
		}
		if !bytes.Equal(rebuilt, input) {
			t.Fatalf("rebuilt %q from %q", rebuilt, input)
		}
	})
}
