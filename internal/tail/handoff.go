package tail

import (
	"errors"
	"time"
)

// HandOff moves the unfinished line held by f, and the state of the line
// it is in (truncated, partly flushed), to next, and leaves f empty, as if
// the bytes f consumed and next will consume were one stream. next must
// hold nothing.
func (f *Framer) HandOff(next *Framer) {
	next.buf, next.over, next.cont, next.skip = f.buf, f.over, f.cont, f.skip
	f.buf, f.over, f.cont, f.skip = nil, false, false, false
}

// ErrHandOff is returned by Reader.HandOff when the next reader has read
// already.
var ErrHandOff = errors.New("the next file has been read already")

// HandOff continues the unfinished line held at the end of r's file in
// next, the file that follows it in a chain (logmon's <task>.stdout.N and
// N+1 split a long line across the two). next must be at offset 0 and not
// have read anything.
//
// The held bytes move with their partial-line deadline; the line's event
// is produced by next, and acknowledging it commits next's Progress past
// the line's end in next. r's Progress stays committed at most at the start
// of the handed-off line: a checkpoint taken before the line's event is
// acknowledged resumes in r's file, at the line's start, and reads it
// again.
func (r *Reader) HandOff(next *Reader) error {
	if next.readOff != 0 || next.framer.Holding() {
		return ErrHandOff
	}
	if !r.framer.Holding() && !r.framer.skip && !r.framer.cont {
		return nil
	}
	r.framer.HandOff(&next.framer)
	next.heldFrom = r.heldFrom
	r.heldFrom = time.Time{}
	return nil
}

// LineStart is the offset where the line the Reader is in began: the end
// of the last line it handed out or skipped, which is as far as its
// Progress commits once every batch is acknowledged. It equals Offset
// unless an unfinished line is held or the rest of a flushed line is being
// skipped.
func (r *Reader) LineStart() int64 { return r.doneOff }
