package tail

import (
	"bytes"

	"github.com/drover-dev/drover/internal/event"
)

// shrinkAbove is the capacity above which a Framer drops its hold buffer
// after a line completes, so that one long line does not pin memory in each
// of many idle files.
const shrinkAbove = 64 << 10

// Result says what Framer.Next found.
type Result uint8

const (
	// NeedMore: the data held no line end; it was consumed into the held
	// partial line (or skipped, for an over-long line).
	NeedMore Result = iota
	// Line: a line ended and is returned.
	Line
	// Skipped: a line ended without producing a message: the rest of a line
	// whose head was already flushed truncated, or an empty rest of a line
	// whose head was flushed as partial.
	Skipped
)

// Framer splits a byte stream into lines terminated by '\n'.
//
// Rules, applied to the bytes between two '\n' (the terminator is not part
// of the message): one trailing '\r' is removed; a message longer than Max
// bytes keeps its first Max bytes and is flagged event.Truncated. Other bytes
// (invalid UTF-8, NUL) pass through unchanged. Empty lines are messages.
//
// An unfinished last line is held by the Framer across calls, but never more
// than Max+1 bytes of it: the rest of an over-long line is skipped as it
// arrives, so memory stays bounded whatever the line length. Flush releases
// a held line as a message flagged event.Partial. The rest of that line,
// when its terminator comes, is a message of its own unless it is empty; if
// the flushed head was truncated, the rest is skipped.
//
// The zero Framer is not usable; set Max (≥ 1) or use NewFramer.
type Framer struct {
	// Max is the longest message in bytes.
	Max int

	buf  []byte // held bytes of the current line, at most Max+1
	over bool   // the current line has more bytes than buf holds
	cont bool   // the head of the current line was flushed as partial
	skip bool   // the truncated head of the current line was flushed: skip to '\n'
}

// NewFramer returns a Framer for messages of at most max bytes.
func NewFramer(max int) *Framer { return &Framer{Max: max} }

// Next consumes data up to and including the first '\n' and returns the
// line that ended there, or consumes all of data when it holds no '\n'.
// n is the number of bytes consumed. The returned line points into data or
// into the Framer's buffer and is valid until the next call.
func (f *Framer) Next(data []byte) (line []byte, flags event.Flags, n int, res Result) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if !f.skip {
			f.hold(data)
		}
		return nil, 0, len(data), NeedMore
	}
	n = i + 1
	if f.skip {
		f.skip, f.cont = false, false
		return nil, 0, n, Skipped
	}
	seg := data[:i]
	if len(f.buf) == 0 && !f.over {
		line = seg
	} else {
		f.hold(seg)
		line = f.buf
		if cap(f.buf) > shrinkAbove {
			f.buf = nil
		} else {
			f.buf = f.buf[:0]
		}
	}
	over, cont := f.over, f.cont
	f.over, f.cont = false, false
	line, flags = f.finish(line, over)
	if cont && len(line) == 0 {
		return nil, 0, n, Skipped
	}
	return line, flags, n, Line
}

// Flush releases the held unfinished line as a message flagged
// event.Partial (and event.Truncated when it was too long). ok is false when
// nothing worth a message is held (nothing, or only a '\r'); the Framer's
// state is then unchanged. The line is valid until the next call.
func (f *Framer) Flush() (line []byte, flags event.Flags, ok bool) {
	if f.skip || (len(f.buf) == 0 && !f.over) {
		return nil, 0, false
	}
	line, flags = f.finish(f.buf, f.over)
	if len(line) == 0 && flags == 0 {
		return nil, 0, false
	}
	if flags&event.Truncated != 0 {
		f.skip = true
	} else {
		f.cont = true
	}
	f.over = false
	if cap(f.buf) > shrinkAbove {
		f.buf = nil
	} else {
		f.buf = f.buf[:0]
	}
	return line, flags | event.Partial, true
}

// Holding reports whether an unfinished line is held (Flush would produce a
// message or is waiting for more bytes of a line).
func (f *Framer) Holding() bool { return len(f.buf) > 0 || f.over }

// Flushable reports whether Flush would produce a message now.
func (f *Framer) Flushable() bool {
	if f.skip {
		return false
	}
	return f.over || len(f.buf) > 1 || (len(f.buf) == 1 && f.buf[0] != '\r')
}

// Held is the number of bytes of the unfinished line kept in memory.
func (f *Framer) Held() int { return len(f.buf) }

// Reset forgets any held or skipped line.
func (f *Framer) Reset() {
	f.buf, f.over, f.cont, f.skip = nil, false, false, false
}

func (f *Framer) hold(b []byte) {
	if f.over {
		return
	}
	room := f.Max + 1 - len(f.buf)
	if len(b) > room {
		b = b[:room]
		f.over = true
	}
	f.buf = append(f.buf, b...)
}

func (f *Framer) finish(line []byte, over bool) ([]byte, event.Flags) {
	if over {
		return line[:f.Max], event.Truncated
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > f.Max {
		return line[:f.Max], event.Truncated
	}
	return line, 0
}
