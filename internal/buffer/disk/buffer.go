package disk

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
)

// ErrClosed is returned by Push after Retire or Close, and by Next after
// Close.
var ErrClosed = errors.New("disk buffer closed")

// WhenFull is what Push does with a batch that does not fit.
type WhenFull uint8

const (
	// Block makes Push wait for room: backpressure to the sources.
	Block WhenFull = iota
	// DropNewest discards the batch: it is released as Rejected and its
	// events are counted in component_discarded_events_total{reason="buffer_full"}.
	DropNewest
)

// Limits are the settings that can change while the buffer is open.
type Limits struct {
	// MaxSize bounds the bytes of the segment files. A batch that does not
	// fit waits or is dropped (WhenFull), except that a batch is always
	// admitted into a buffer holding nothing unacknowledged, so that one
	// batch larger than MaxSize cannot block forever.
	MaxSize int64
	// WhenFull is what happens to a batch that does not fit.
	WhenFull WhenFull
	// FsyncInterval is the least time between two fsyncs; 0 syncs after
	// every write. Batches are acknowledged upstream only once synced, so it
	// is also the longest an acknowledgement waits.
	FsyncInterval time.Duration
}

// Options configure Open.
type Options struct {
	// Dir is the buffer's directory, created when missing. One buffer per
	// directory: a second Open of a directory in use fails.
	Dir string
	Limits
	// SegmentSize is the size at which the writer starts a new segment
	// file. 0 means MaxSize/8, at least 64 KiB and at most 64 MiB.
	SegmentSize int64
	// Logger receives damage reports and I/O errors; nil for slog.Default().
	Logger *slog.Logger
	// Metrics are the sink's instruments; nil for a private set.
	Metrics *metrics.Component
	// Health is the sink's Reporter: a run of write failures holds the
	// buffer condition failing, one of position saves the buffer_position
	// condition degraded; nil reports nowhere.
	Health *health.Reporter
}

const (
	minSegmentSize = 64 << 10
	maxSegmentSize = 64 << 20
	// ackInterval is how often the acknowledged position is persisted
	// while it moves (and at once when it enters a new segment, so that
	// the old one can be deleted).
	ackInterval = 250 * time.Millisecond
	// maxPendingBytes bounds the admitted records waiting in memory for the
	// writer; Push waits beyond it whatever WhenFull says.
	maxPendingBytes = 16 << 20
)

// Buffer is a disk buffer. Push, Retire and Close may be called from any
// goroutine; Next from one goroutine at a time.
type Buffer struct {
	dir     string
	segSize int64
	log     *slog.Logger
	m       *metrics.Component
	lock    *os.File

	corrupt  prometheus.Counter
	dropped  prometheus.Counter
	tooLarge prometheus.Counter

	mu        sync.Mutex
	lim       Limits
	segs      []*segment // in id order; the head, when there is one, is last
	nextID    uint64
	diskBytes int64 // segment file bytes plus admitted records not yet written
	// live counts the records admitted (this run) or found (at Open) and not
	// yet acknowledged; liveEvents and liveBytes are their events and bytes.
	live                  int
	liveEvents, liveBytes int64
	pending               []*record // admitted, waiting for the writer
	pendingBytes          int64
	room                  chan struct{} // closed and replaced when room may have freed up
	retired               bool
	dropping              int64 // events dropped in the current full spell
	closing               bool  // Next returns ErrClosed
	done                  bool  // closed: acknowledgements are ignored

	cur       position                  // where the reader goes on
	acks      checkpoint.Window[*entry] // handed out or skipped, in order, not yet acknowledged as a prefix
	redeliver []*entry                  // released Failed, to be handed out again first
	ready     chan struct{}
	ackPos    position // everything before it was acknowledged
	persisted position // the last ackPos written to the ack file
	reported  map[position]bool
	// scanOldest is the write time of the oldest record found at Open, until
	// the reader has read one.
	scanOldest int64
	// writeFails and ackFails follow runs of write and position-save
	// failures: logged once, reminded, recovery logged, health held.
	writeFails, ackFails *health.Streak

	wake      chan struct{} // capacity 1: the writer has work
	stopWrite chan struct{}
	maint     chan struct{} // capacity 1: the position entered a new segment
	stopMaint chan struct{}
	closed    chan struct{} // closed by Close: Next returns
	wg        sync.WaitGroup
	closeOnce sync.Once

	readMu sync.Mutex // held by Next
	rd     reader
}

// Open opens (or creates) the buffer in opts.Dir. It verifies every
// unacknowledged record, reports and skips damage, and returns once the
// buffer is ready; damage never makes it fail. It fails only when the
// directory cannot be used (permissions, I/O errors, another user).
func Open(opts Options) (*Buffer, error) {
	if opts.Dir == "" || opts.MaxSize <= 0 {
		return nil, errors.New("disk buffer: Dir and MaxSize are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.ForTest("sink", "disk_buffer", filepath.Base(opts.Dir))
	}
	segSize := opts.SegmentSize
	if segSize <= 0 {
		segSize = min(max(opts.MaxSize/8, minSegmentSize), maxSegmentSize)
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating disk buffer directory: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	b := &Buffer{
		dir: opts.Dir, segSize: segSize, log: opts.Logger.With("buffer_dir", opts.Dir), m: opts.Metrics, lock: lock,
		corrupt:   opts.Metrics.Errors("buffer_corrupt"),
		dropped:   opts.Metrics.Discarded("buffer_full"),
		tooLarge:  opts.Metrics.Discarded("too_large"),
		lim:       opts.Limits,
		room:      make(chan struct{}),
		ready:     make(chan struct{}),
		reported:  map[position]bool{},
		wake:      make(chan struct{}, 1),
		stopWrite: make(chan struct{}),
		maint:     make(chan struct{}, 1),
		stopMaint: make(chan struct{}),
		closed:    make(chan struct{}),
	}
	b.writeFails = health.NewStreak(health.StreakConfig{Logger: b.log, Health: opts.Health,
		Condition: health.ConditionBuffer, Level: slog.LevelError, Remind: health.DefaultRemind})
	b.ackFails = health.NewStreak(health.StreakConfig{Logger: b.log, Health: opts.Health,
		Condition: health.ConditionBufferPosition, State: health.Degraded, Level: slog.LevelError, Remind: health.DefaultRemind})
	if err := b.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	b.rd.init()
	b.m.BufferEvents.Add(float64(b.liveEvents))
	b.m.BufferBytes.Add(float64(b.liveBytes))
	b.wg.Add(2)
	go b.writeLoop()
	go b.maintainLoop()
	return b, nil
}

// recover finds the segments and the acknowledged position, deletes what was
// acknowledged, and verifies the rest.
func (b *Buffer) recover() error {
	removeStaleTemps(b.dir)
	segs, err := listSegments(b.dir)
	if err != nil {
		return err
	}
	ack, found, err := loadAck(b.dir)
	switch {
	case errors.Is(err, errAckDamaged):
		b.corrupt.Inc()
		b.log.Error("disk buffer: the acknowledged position is damaged; delivering everything in the buffer again (duplicates, no loss)", "error", err)
	case err != nil:
		return err
	}
	var keep []*segment
	for _, s := range segs {
		if found && s.id < ack.seg {
			if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				b.log.Warn("disk buffer: cannot delete an acknowledged segment", "file", s.path, "error", err)
			}
			continue
		}
		keep = append(keep, s)
	}
	b.segs = keep
	// New segments get ids after the position's, also when its segment is
	// gone: an offset into it must never apply to a new file.
	b.nextID = ack.seg + 1
	if n := len(keep); n > 0 {
		b.nextID = max(b.nextID, keep[n-1].id+1)
		if keep[0].id != ack.seg {
			ack = position{seg: keep[0].id}
		}
	}
	b.ackPos, b.persisted, b.cur = ack, ack, ack
	var w window
	for _, s := range keep {
		b.diskBytes += s.size
		start := segmentHeaderLen
		if s.id == ack.seg {
			start = max(ack.off, segmentHeaderLen)
		}
		b.verify(s, start, &w)
	}
	return nil
}

// verify scans one segment from start, counts its valid records and reports
// the damage in it. A segment that cannot be opened or read is reported as
// damaged; it never makes Open fail.
func (b *Buffer) verify(s *segment, start int64, w *window) {
	f, err := os.Open(s.path)
	if err != nil {
		b.report(s, damage{off: start, end: s.size, reason: "cannot open: " + err.Error()})
		return
	}
	defer f.Close()
	w.reset(f)
	if s.size < segmentHeaderLen {
		if s.size > 0 {
			b.report(s, damage{off: 0, end: s.size, reason: "segment header cut short (torn write)"})
		}
		return
	}
	if hdr, err := w.read(0, int(segmentHeaderLen), s.size); err != nil || string(hdr) != segmentHeader {
		b.report(s, damage{off: 0, end: segmentHeaderLen, reason: "unknown segment header; reading records anyway"})
	}
	for off := start; off < s.size; {
		res, err := scanNext(w, off, s.size)
		if err != nil {
			b.report(s, damage{off: off, end: s.size, reason: err.Error()})
			return
		}
		if res.bad != nil {
			b.report(s, *res.bad)
		}
		if !res.found {
			break
		}
		off = res.end
		info, err := readPayloadInfo(res.payload)
		if err != nil {
			// The reader meets it again and skips it silently.
			b.report(s, damage{off: res.off, end: res.end, reason: "undecodable record: " + err.Error()})
			continue
		}
		b.live++
		b.liveEvents += int64(info.events)
		b.liveBytes += res.end - res.off
		if b.scanOldest == 0 {
			b.scanOldest = info.writtenAt
		}
	}
}

// report logs and counts damage once per place.
func (b *Buffer) report(s *segment, d damage) {
	b.mu.Lock()
	at := position{seg: s.id, off: d.off}
	seen := b.reported[at]
	b.reported[at] = true
	b.mu.Unlock()
	if seen {
		return
	}
	b.corrupt.Inc()
	b.log.Warn("disk buffer: skipping damaged data", "file", s.path, "offset", d.off, "length", d.end-d.off, "reason", d.reason)
}

// removeStaleTemps deletes temporary ack files a crash left behind.
func removeStaleTemps(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "."+ackFileName+".tmp-") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// SetLimits changes the limits of an open buffer.
func (b *Buffer) SetLimits(l Limits) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lim = l
	b.signalRoom()
}

// Retire makes Push refuse batches with ErrClosed, also those waiting for
// room. What was admitted is still written and acknowledged, and Next keeps
// working until Close.
func (b *Buffer) Retire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.retired = true
	b.signalRoom()
}

// Close retires the buffer, writes and syncs every admitted batch (and
// acknowledges it upstream), makes Next return ErrClosed, persists the
// acknowledged position and releases the directory. Batches handed out by
// Next and not yet released stay in the buffer and are delivered again
// after the next Open; releasing them later is harmless. Close does not
// wait for the sink to drain the buffer.
func (b *Buffer) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.Retire()
		close(b.stopWrite)
		b.mu.Lock()
		b.closing = true
		b.mu.Unlock()
		close(b.closed)
		close(b.stopMaint)
		b.wg.Wait()
		b.readMu.Lock()
		b.rd.close()
		b.readMu.Unlock()
		b.mu.Lock()
		b.done = true
		pos := b.ackPos
		b.m.BufferEvents.Sub(float64(b.liveEvents))
		b.m.BufferBytes.Sub(float64(b.liveBytes))
		b.mu.Unlock()
		b.m.BufferAge.Set(0)
		err = b.persist(pos)
		b.lock.Close()
	})
	return err
}

// Stats is a snapshot of the buffer's state.
type Stats struct {
	// Records, Events and Bytes are what was admitted (or found at Open)
	// and is not yet acknowledged; Bytes counts record bytes on disk.
	Records int
	Events  int64
	Bytes   int64
	// DiskBytes is the size of the segment files, the quantity MaxSize
	// bounds.
	DiskBytes int64
	// Segments is the number of segment files.
	Segments int
}

// Stats returns a snapshot of the buffer's state.
func (b *Buffer) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Records: b.live, Events: b.liveEvents, Bytes: b.liveBytes, DiskBytes: b.diskBytes, Segments: len(b.segs)}
}

// signalRoom wakes the pushers waiting for room. Callers hold b.mu.
func (b *Buffer) signalRoom() {
	close(b.room)
	b.room = make(chan struct{})
}

// signalReady wakes Next. Callers hold b.mu.
func (b *Buffer) signalReady() {
	close(b.ready)
	b.ready = make(chan struct{})
}

// segment returns the segment with the given id, or nil. Callers hold b.mu.
func (b *Buffer) segment(id uint64) *segment {
	for _, s := range b.segs {
		if s.id == id {
			return s
		}
	}
	return nil
}

// segmentAfter returns the first segment with a larger id, or nil. Callers
// hold b.mu.
func (b *Buffer) segmentAfter(id uint64) *segment {
	for _, s := range b.segs {
		if s.id > id {
			return s
		}
	}
	return nil
}
