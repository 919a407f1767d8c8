package journald

import (
	"bufio"
	"errors"
	"io"
)

// lineReader splits journalctl's output into lines. A line longer than the
// read buffer is gathered in a separate buffer up to max bytes; a longer
// one is skipped to its end and reported by its size.
type lineReader struct {
	r   *bufio.Reader
	big []byte
	max int
}

// readBufferSize is the read buffer of journalctl's output: most entries
// fit, so that their lines are decoded where they were read.
const readBufferSize = 64 << 10

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, readBufferSize), max: max}
}

// next returns the next line without its terminator. The line is valid
// until the next call. A line longer than max is not returned: skipped is
// its length instead (line is nil). At the end of the output, next returns
// io.EOF; an unterminated last line (journalctl stopped while writing it)
// is dropped.
func (l *lineReader) next() (line []byte, skipped int, err error) {
	l.big = l.big[:0]
	size := 0
	for {
		chunk, err := l.r.ReadSlice('\n')
		size += len(chunk)
		switch {
		case err == nil && len(l.big) == 0 && size <= l.max+1:
			return chunk[:len(chunk)-1], 0, nil
		case err == nil && size <= l.max+1:
			l.big = append(l.big, chunk...)
			return l.big[:len(l.big)-1], 0, nil
		case err == nil:
			return nil, size - 1, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if size <= l.max {
				l.big = append(l.big, chunk...)
			} else if len(l.big) > 0 {
				l.big = l.big[:0]
			}
			continue
		case errors.Is(err, io.EOF):
			return nil, 0, io.EOF
		}
		return nil, 0, err
	}
}

// buffered reports whether more output is already read and waiting.
func (l *lineReader) buffered() bool { return l.r.Buffered() > 0 }
