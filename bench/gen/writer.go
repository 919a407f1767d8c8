package gen

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// chunkBytes is how much a backlog writes per write call.
const chunkBytes = 256 << 10

// tick is the period at which a fixed-rate run looks for streams to write.
const tick = 10 * time.Millisecond

// FlushInterval is how often each stream writes in a fixed-rate run:
// logmon's, whose 64 KiB buffer is flushed every 100 ms.
const FlushInterval = 100 * time.Millisecond

// Writer writes numbered lines into the streams of a Layout. It is not
// safe for concurrent use.
type Writer struct {
	layout *Layout
	files  []streamFile
	next   []uint64 // next sequence number per stream
	bytes  int64
	buf    []byte
}

// NewWriter creates the layout on disk (see Layout.Create) and returns a
// Writer for its streams.
func NewWriter(l *Layout, maxSize int64, maxFiles int) (*Writer, error) {
	files, err := l.Create(maxSize, maxFiles)
	if err != nil {
		return nil, err
	}
	return &Writer{layout: l, files: files, next: make([]uint64, len(files))}, nil
}

// Lines returns the number of lines written to each stream so far: stream
// sid holds lines 0 .. Lines()[sid]-1.
func (w *Writer) Lines() []uint64 { return append([]uint64(nil), w.next...) }

// TotalLines is the number of lines written to every stream.
func (w *Writer) TotalLines() uint64 {
	var n uint64
	for _, v := range w.next {
		n += v
	}
	return n
}

// Bytes is the number of bytes written, newlines included.
func (w *Writer) Bytes() int64 { return w.bytes }

// appendLine appends the next line of stream sid with its newline.
func (w *Writer) appendLine(dst []byte, sid int, ts int64) []byte {
	dst = AppendLine(dst, sid, w.next[sid], ts)
	w.next[sid]++
	return append(dst, '\n')
}

func (w *Writer) write(sid int, p []byte) error {
	w.bytes += int64(len(p))
	return w.files[sid].Write(p)
}

// Backlog writes about total bytes, spread evenly over the streams, as fast
// as it can. Every line ends whole; each stream gets at least one line.
func (w *Writer) Backlog(total int64) error {
	share := total / int64(len(w.files))
	for sid := range w.files {
		var written int64
		for written < share || w.next[sid] == 0 {
			buf := w.buf[:0]
			ts := time.Now().UnixNano()
			for len(buf) < chunkBytes && written+int64(len(buf)) < share {
				buf = w.appendLine(buf, sid, ts)
			}
			if len(buf) == 0 {
				buf = w.appendLine(buf, sid, ts)
			}
			written += int64(len(buf))
			if err := w.write(sid, buf); err != nil {
				return err
			}
			w.buf = buf
		}
	}
	return nil
}

// Rate writes bytesPerSec bytes per second, spread evenly over the streams,
// for d or until ctx ends. Every FlushInterval each stream writes, in one
// write call, the lines its share of the rate owes by then, each stamped
// with the time just before that call: what a reader sees of a task whose
// logmon flushes its buffer. The streams' flushes are spread over the
// interval, 10 ms apart.
func (w *Writer) Rate(ctx context.Context, bytesPerSec float64, d time.Duration) error {
	if bytesPerSec <= 0 {
		return errors.New("write rate must be positive")
	}
	perStream := bytesPerSec / float64(len(w.files))
	slots := int(FlushInterval / tick)
	credit := make([]float64, len(w.files))
	last := make([]time.Time, len(w.files)) // credit counted up to here
	due := make([]time.Time, len(w.files))  // next flush
	start := time.Now()
	for sid := range credit {
		credit[sid] = rand.Float64() * float64(Size(sid, w.next[sid])+1)
		last[sid] = start
		due[sid] = start.Add(time.Duration(sid%slots+1) * tick)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			// The wall clock, not the ticks, paces the writes: a loaded
			// machine drops ticks.
			now := time.Now()
			if now.Sub(start) >= d {
				return nil
			}
			for sid := range w.files {
				if now.Before(due[sid]) {
					continue
				}
				for !due[sid].After(now) {
					due[sid] = due[sid].Add(FlushInterval)
				}
				credit[sid] += perStream * now.Sub(last[sid]).Seconds()
				last[sid] = now
				if err := w.flush(sid, &credit[sid]); err != nil {
					return err
				}
			}
		}
	}
}

// flush writes, in one write call, the lines of stream sid that credit
// pays for, stamped now.
func (w *Writer) flush(sid int, credit *float64) error {
	buf := w.buf[:0]
	ts := time.Now().UnixNano()
	for {
		n := float64(Size(sid, w.next[sid]) + 1)
		if *credit < n {
			break
		}
		*credit -= n
		buf = w.appendLine(buf, sid, ts)
	}
	w.buf = buf
	if len(buf) == 0 {
		return nil
	}
	return w.write(sid, buf)
}

// Close closes the files being written.
func (w *Writer) Close() error {
	var errs []error
	for _, f := range w.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
