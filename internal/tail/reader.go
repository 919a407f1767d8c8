package tail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxLineBytes       = 256 << 10
	DefaultMaxBatchEvents     = 4096
	DefaultPartialLineTimeout = 5 * time.Second
)

// ErrNotRegular is returned by Open for anything but a regular file (FIFOs,
// sockets, devices, directories). Such files are never read.
var ErrNotRegular = errors.New("not a regular file")

// Options configure a Reader.
type Options struct {
	// MaxLineBytes is the longest message; longer lines are truncated and
	// flagged event.Truncated. Default DefaultMaxLineBytes.
	MaxLineBytes int
	// MaxBatchEvents bounds the events of one batch. Default
	// DefaultMaxBatchEvents. A batch also never holds more message bytes
	// than one read (the caller's buffer) plus one held line.
	MaxBatchEvents int
	// PartialLineTimeout is how long an unfinished last line is held,
	// counted from when its first byte was read, before Read flushes it as
	// a partial message. Default DefaultPartialLineTimeout.
	PartialLineTimeout time.Duration
	// Meta is the metadata of every event; replace it with SetMeta.
	Meta *event.Meta
	// Inflight, if set, counts this reader's unacknowledged batches.
	Inflight *checkpoint.Inflight
	// OnCommit, if set, is called when the committed offset or the
	// fingerprint changes (on any goroutine, with no lock held).
	OnCommit func()
	// AppendOnly says the file is only ever appended to and never
	// truncated or rewritten in place (logmon's numbered files: a new file
	// takes over at rotation). Stat then reads the head only to extend the
	// fingerprint of a file shorter than MaxHead, not at every growth: a
	// file shorter than the read offset is still reported truncated. Files
	// that copytruncate may rotate leave it unset.
	AppendOnly bool
	// Logger and Metrics, if set, receive the reader's own reports: line
	// truncation (logged once per reader, counted in
	// Errors("line_truncated")), ReceivedEvents and ReceivedBytes.
	Logger  *slog.Logger
	Metrics *metrics.Component
}

func (o *Options) setDefaults() {
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.MaxBatchEvents <= 0 {
		o.MaxBatchEvents = DefaultMaxBatchEvents
	}
	if o.PartialLineTimeout <= 0 {
		o.PartialLineTimeout = DefaultPartialLineTimeout
	}
}

// Reader reads one open file from a start offset and turns its lines into
// batches.
//
// The file is read with positioned reads (pread) through the descriptor
// opened by Open, so it can be renamed or deleted meanwhile: a Reader keeps
// reading the same file until Close. Three offsets matter: Offset, the next
// byte to read; the end of the last line handed out (every batch's Ack
// commits up to there); and Progress().Committed(), the position that is
// safe to persist.
//
// A Reader is not safe for concurrent use, except Progress.
type Reader struct {
	f    *os.File
	path string
	id   FileID
	o    Options

	fp       Fingerprint
	framer   Framer
	prog     *Progress
	readOff  int64 // next byte to read
	doneOff  int64 // end of the last line handed out or skipped
	regOff   int64 // end of the last range registered with prog
	size     int64 // size at the last Stat
	heldFrom time.Time

	mod time.Time // modification time seen by the last Stat (or Open)

	warnedTruncation bool
}

// Open opens path for reading, refusing anything but a regular file. It
// never blocks on a FIFO (the file is opened non-blocking and checked with
// fstat before any read). The Reader starts at offset 0; call Start to
// begin elsewhere. The caller must Close it.
func Open(path string, o Options) (*Reader, error) {
	o.setDefaults()
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("opening %s: %w (%s)", path, ErrNotRegular, fi.Mode().Type())
	}
	id, _ := IDOf(fi)
	fp, err := ReadFingerprint(f, id)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	r := &Reader{f: f, path: path, id: id, o: o, fp: fp, size: fi.Size(), mod: fi.ModTime()}
	r.framer.Max = o.MaxLineBytes
	r.prog = NewProgress(fp, 0, o.Inflight, o.OnCommit)
	return r, nil
}

// Start sets the offset of the first byte to read and commits it. Call it
// before the first Read. A start beyond the end of the file is clamped to
// its current size.
func (r *Reader) Start(offset int64) {
	if offset < 0 {
		offset = 0
	}
	if offset > r.size {
		offset = r.size
	}
	r.readOff, r.doneOff, r.regOff = offset, offset, offset
	r.framer.Reset()
	r.heldFrom = time.Time{}
	r.prog.Reset(r.fp, offset)
}

// Path is the path the file was opened at, or the last SetPath.
func (r *Reader) Path() string { return r.path }

// ID is the file's device and inode.
func (r *Reader) ID() FileID { return r.id }

// Fingerprint is the file's current fingerprint.
func (r *Reader) Fingerprint() Fingerprint { return r.fp }

// Progress is the file's acknowledgement tracker.
func (r *Reader) Progress() *Progress { return r.prog }

// Offset is the next byte to read.
func (r *Reader) Offset() int64 { return r.readOff }

// Size is the file size seen by the last Stat (or Open).
func (r *Reader) Size() int64 { return r.size }

// Behind is the number of bytes between Offset and the last seen size.
func (r *Reader) Behind() int64 {
	if r.size > r.readOff {
		return r.size - r.readOff
	}
	return 0
}

// SetPath records that the file is now known under path, with meta for the
// events read from now on.
func (r *Reader) SetPath(path string, meta *event.Meta) {
	r.path = path
	r.o.Meta = meta
}

// HeadMatches reports whether the file's head still matches fp (see
// HeadMatches).
func (r *Reader) HeadMatches(fp Fingerprint) (bool, error) {
	if r.f == nil {
		return false, ErrParked
	}
	return HeadMatches(r.f, fp)
}

// Status is what Stat found.
type Status struct {
	// Size is the file's size.
	Size int64
	// Grew: the size is larger than at the previous Stat.
	Grew bool
	// Deleted: the file has no name left (link count 0).
	Deleted bool
	// Truncated: the content the Reader was reading is gone. The file is
	// shorter than the read offset, or its first bytes changed (a
	// copytruncate followed by new writes). Call Restart.
	Truncated bool
}

// Stat checks the open file: size, link count, and whether its content was
// replaced (its head is read when the file changed, unless AppendOnly).
// While the file is shorter than MaxHead it extends the fingerprint to the
// new head (after checking the old head is unchanged).
func (r *Reader) Stat() (Status, error) {
	if r.f == nil {
		return Status{}, ErrParked
	}
	fi, err := r.f.Stat()
	if err != nil {
		return Status{}, fmt.Errorf("checking %s: %w", r.path, err)
	}
	st := Status{Size: fi.Size(), Grew: fi.Size() > r.size}
	// A write that leaves the size as it was (a copytruncate followed by
	// as many bytes as the file had) still moves the modification time:
	// the head is checked then too.
	changed := st.Size != r.size || !fi.ModTime().Equal(r.mod)
	r.mod = fi.ModTime()
	if n, ok := nlinkOf(fi); ok && n == 0 {
		st.Deleted = true
	}
	r.size = st.Size
	if st.Size < r.readOff {
		st.Truncated = true
		return st, nil
	}
	if changed && r.fp.HeadLen > 0 && !r.o.AppendOnly || r.fp.HeadLen < MaxHead && st.Size > int64(r.fp.HeadLen) {
		ok, err := r.checkHead()
		if err != nil {
			return st, err
		}
		st.Truncated = !ok
	}
	return st, nil
}

// checkHead verifies the fingerprinted head and extends it while the file
// is shorter than MaxHead.
func (r *Reader) checkHead() (bool, error) {
	var head [MaxHead]byte
	n, err := readHead(r.f, head[:])
	if err != nil {
		return false, err
	}
	if n < r.fp.HeadLen || crc(head[:r.fp.HeadLen]) != r.fp.HeadCRC {
		return false, nil
	}
	if n > r.fp.HeadLen {
		r.fp.HeadLen, r.fp.HeadCRC = n, crc(head[:n])
		r.prog.SetFingerprint(r.fp)
	}
	return true, nil
}

// Restart starts the file over from offset 0 after Stat reported it
// truncated. A line held from the old content is flushed first and returned
// as a batch (nil if none) that the caller emits like any other. If the new
// head cannot be read, the fingerprint covers no bytes until a later Stat
// extends it, and the error is returned.
func (r *Reader) Restart(now time.Time) (*event.Batch, error) {
	if r.f == nil {
		return nil, ErrParked
	}
	b := r.Flush(now)
	fp, err := ReadFingerprint(r.f, r.id)
	if err != nil {
		fp = Fingerprint{FileID: r.id}
	}
	r.fp = fp
	r.readOff, r.doneOff, r.regOff = 0, 0, 0
	r.framer.Reset()
	r.heldFrom = time.Time{}
	r.prog.Reset(fp, 0)
	return b, err
}

// Rewind goes back to the committed offset, forgetting the batches in flight
// and any held line, so that bytes whose batches failed are read again.
func (r *Reader) Rewind() {
	_, off := r.prog.Snapshot()
	r.readOff, r.doneOff, r.regOff = off, off, off
	r.framer.Reset()
	r.heldFrom = time.Time{}
	r.prog.Reset(r.fp, off)
}

// PartialDeadline returns when the held unfinished line will be flushed by
// Read, if a line is held.
func (r *Reader) PartialDeadline() (time.Time, bool) {
	if r.heldFrom.IsZero() || !r.framer.Flushable() {
		return time.Time{}, false
	}
	return r.heldFrom.Add(r.o.PartialLineTimeout), true
}

// Holding reports whether bytes of an unfinished line are held.
func (r *Reader) Holding() bool { return r.framer.Holding() }

// Read reads the next chunk (up to len(buf) bytes at Offset) into buf and
// returns the batch of lines it completed, or nil when it completed none. n
// is the number of bytes consumed; it may be less than what was read when
// the batch reached MaxBatchEvents (the rest is read again by the next call).
// An unfinished line held longer than PartialLineTimeout is flushed into the
// batch. err is io.EOF when the read reached the end of the file (b and n
// are valid then too), or a read error.
//
// Every event gets Timestamp now and the Reader's Meta. The batch's Ack is
// held once by the caller, who releases it after emitting the batch.
func (r *Reader) Read(buf []byte, now time.Time) (b *event.Batch, n int, err error) {
	if r.f == nil {
		return nil, 0, ErrParked
	}
	got, err := r.f.ReadAt(buf, r.readOff)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("reading %s at offset %d: %w", r.path, r.readOff, err)
	}
	data := buf[:got]
	var bb builder
	maxEv := r.o.MaxBatchEvents
	full, ended := false, false
	for n < got {
		if len(bb.events) == maxEv {
			full = true
			break
		}
		line, flags, k, res := r.framer.Next(data[n:])
		n += k
		switch res {
		case Line:
			if bb.events == nil {
				rest := data[n:]
				bb.add(line, flags, r.o.Meta, now,
					min(maxEv, 2+bytes.Count(rest, newline)), len(line)+len(rest))
			} else {
				bb.add(line, flags, r.o.Meta, now, 0, 0)
			}
			r.doneOff = r.readOff + int64(n)
			ended = true
			if flags&event.Truncated != 0 {
				r.truncated(r.doneOff)
			}
		case Skipped:
			r.doneOff = r.readOff + int64(n)
			ended = true
		}
	}
	r.readOff += int64(n)
	if full && err == io.EOF {
		err = nil
	}
	if err == io.EOF && r.readOff > r.size {
		r.size = r.readOff // the file is at least this long
	}
	switch {
	case !r.framer.Holding():
		r.heldFrom = time.Time{}
	case ended || r.heldFrom.IsZero():
		// A line that began in this chunk is held from now on.
		r.heldFrom = now
	}
	if !full {
		if dl, ok := r.PartialDeadline(); ok && !now.Before(dl) {
			r.flushInto(&bb, now)
		}
	}
	if r.o.Metrics != nil && n > 0 {
		r.o.Metrics.ReceivedBytes.Add(float64(n))
	}
	return r.finish(&bb), n, err
}

var newline = []byte{'\n'}

// Flush releases a held unfinished line as a partial message and returns
// its batch, or nil when nothing is held. Call it when the file is about to
// be closed, or rotated away and fully read.
func (r *Reader) Flush(now time.Time) *event.Batch {
	var bb builder
	r.flushInto(&bb, now)
	return r.finish(&bb)
}

func (r *Reader) flushInto(bb *builder, now time.Time) {
	held := r.framer.Held()
	line, flags, ok := r.framer.Flush()
	if !ok {
		return
	}
	bb.add(line, flags, r.o.Meta, now, 1, held)
	r.doneOff = r.readOff
	r.heldFrom = time.Time{}
	if flags&event.Truncated != 0 {
		r.truncated(r.doneOff)
	}
}

func (r *Reader) truncated(at int64) {
	if r.o.Metrics != nil {
		r.o.Metrics.Errors("line_truncated").Inc()
	}
	if !r.warnedTruncation && r.o.Logger != nil {
		r.warnedTruncation = true
		r.o.Logger.Warn("line longer than max_line_bytes truncated; further truncations in this file are only counted",
			"file", r.path, "max_line_bytes", r.o.MaxLineBytes, "line_end_offset", at)
	}
}

// finish registers the batch (or the skipped bytes) with Progress.
func (r *Reader) finish(bb *builder) *event.Batch {
	if len(bb.events) == 0 {
		if r.doneOff > r.regOff {
			r.regOff = r.doneOff
			r.prog.Advance(r.doneOff)
		}
		return nil
	}
	r.regOff = r.doneOff
	if r.o.Metrics != nil {
		r.o.Metrics.ReceivedEvents.Add(float64(len(bb.events)))
	}
	return &event.Batch{Events: bb.events, Ack: r.prog.Add(r.doneOff)}
}

// Close closes the file (nothing to do when it is parked). The Progress
// stays usable.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	f := r.f
	r.f = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", r.path, err)
	}
	return nil
}

func crc(b []byte) uint32 { return crc32Checksum(b) }
