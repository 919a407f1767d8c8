package journald

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestLineReader(t *testing.T) {
	long := strings.Repeat("a", readBufferSize+10)
	tooLong := strings.Repeat("b", 3*readBufferSize)
	in := "one\n" + long + "\n" + tooLong + "\ntwo\nunterminated"
	l := newLineReader(strings.NewReader(in), 2*readBufferSize)
	type res struct {
		line    string
		skipped int
	}
	var got []res
	for {
		line, skipped, err := l.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res{string(line), skipped})
	}
	want := []res{{"one", 0}, {long, 0}, {"", len(tooLong)}, {"two", 0}}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %d bytes, skipped %d; want %d bytes, skipped %d", i, len(got[i].line), got[i].skipped, len(want[i].line), want[i].skipped)
		}
	}
}
