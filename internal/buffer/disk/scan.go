package disk

import (
	"bytes"
	"fmt"
	"io"
)

const (
	// windowSize is how much a window reads ahead.
	windowSize = 256 << 10
	// scanChunk is how much is searched at a time for the next record after
	// damage.
	scanChunk = 64 << 10
)

// window reads a segment file through a read-ahead buffer, so that reading
// many small records costs few system calls. It is not safe for concurrent
// use.
type window struct {
	r   io.ReaderAt
	buf []byte
	off int64 // file offset of buf[0]
}

// read returns the n bytes at off, reading ahead up to limit. The slice is
// valid until the next call. The caller guarantees off+n <= limit.
func (w *window) read(off int64, n int, limit int64) ([]byte, error) {
	if off >= w.off && off+int64(n) <= w.off+int64(len(w.buf)) {
		return w.buf[off-w.off : off-w.off+int64(n)], nil
	}
	size := int64(max(n, windowSize))
	size = min(size, limit-off)
	if int64(cap(w.buf)) < size || (cap(w.buf) > 4*windowSize && size <= windowSize) {
		// Grow for a large record; shrink again after one.
		w.buf = make([]byte, size)
	}
	w.buf = w.buf[:size]
	m, err := w.r.ReadAt(w.buf, off)
	w.buf, w.off = w.buf[:m], off
	if m < n {
		w.buf = w.buf[:0]
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading %d bytes at offset %d: %w", n, off, err)
	}
	return w.buf[:n], nil
}

// reset forgets the buffered bytes (the window is pointed at another file).
func (w *window) reset(r io.ReaderAt) {
	w.r, w.buf, w.off = r, w.buf[:0], 0
}

// damage is a range of a segment that holds no valid record.
type damage struct {
	off, end int64
	reason   string
}

// scanned is the outcome of scanNext.
type scanned struct {
	// found tells whether a valid record was found; it spans [off, end).
	found    bool
	off, end int64
	// payload is the record's verified payload, valid until the window
	// reads again.
	payload []byte
	// bad is the damage skipped before the record (or up to the limit when
	// no record was found); nil when there was none.
	bad *damage
}

// scanNext finds the first valid record at or after off that ends at or
// before limit. Damaged bytes are skipped by searching for the next record
// header whose own checksum is right, and reported in bad. An error is an
// I/O error; damage is never an error. scanNext reads every byte of
// [off, limit) at most a few times and always returns.
func scanNext(w *window, off, limit int64) (scanned, error) {
	var bad *damage
	note := func(pos int64, reason string) {
		if bad == nil {
			bad = &damage{off: pos, reason: reason}
		}
	}
	pos := off
	for pos < limit {
		if limit-pos < recordHeaderLen {
			note(pos, "record header cut short (torn write)")
			break
		}
		hdr, err := w.read(pos, recordHeaderLen, limit)
		if err != nil {
			return scanned{}, err
		}
		n, sum, ok := parseRecordHeader(hdr)
		switch {
		case !ok:
			note(pos, "damaged record header")
		case pos+recordHeaderLen+n > limit:
			note(pos, "record cut short (torn write)")
		default:
			p, err := w.read(pos+recordHeaderLen, int(n), limit)
			if err != nil {
				return scanned{}, err
			}
			if checksum(p) == sum {
				if bad != nil {
					bad.end = pos
				}
				return scanned{found: true, off: pos, end: pos + recordHeaderLen + n, payload: p, bad: bad}, nil
			}
			note(pos, "payload checksum mismatch")
		}
		if pos, err = findHeader(w, pos+1, limit); err != nil {
			return scanned{}, err
		}
	}
	if bad != nil {
		bad.end = limit
	}
	return scanned{off: limit, end: limit, bad: bad}, nil
}

// findHeader returns the offset of the first record header at or after from
// whose magic and checksum are right, or limit when there is none.
func findHeader(w *window, from, limit int64) (int64, error) {
	for p := from; limit-p >= recordHeaderLen; {
		n := min(limit-p, scanChunk)
		chunk, err := w.read(p, int(n), limit)
		if err != nil {
			return 0, err
		}
		i := bytes.Index(chunk, recordMagic[:])
		if i < 0 {
			if p+n >= limit {
				break
			}
			// The magic may straddle the chunk's end.
			p += n - int64(len(recordMagic)-1)
			continue
		}
		c := p + int64(i)
		if limit-c < recordHeaderLen {
			break
		}
		hdr, err := w.read(c, recordHeaderLen, limit)
		if err != nil {
			return 0, err
		}
		if _, _, ok := parseRecordHeader(hdr); ok {
			return c, nil
		}
		p = c + 1
	}
	return limit, nil
}
