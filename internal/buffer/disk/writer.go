package disk

import (
	"fmt"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

// writeChunk is the most the writer gathers for one write system call.
const writeChunk = 1 << 20

// writer is the state of the writer goroutine.
type writer struct {
	b    *Buffer
	head *segment
	off  int64 // bytes of head written or gathered
	// buf gathers small records for one write at bufOff.
	buf    []byte
	bufOff int64
	// unsynced are written and wait for an fsync to be acknowledged.
	unsynced []*record
	// toSeal are former heads whose last writes wait for that fsync.
	toSeal   []*segment
	dirDirty bool
	lastSync time.Time
}

// writeLoop writes what Push admitted and fsyncs it at most once per fsync
// interval (group commit), until Close.
func (b *Buffer) writeLoop() {
	defer b.wg.Done()
	w := &writer{b: b}
	var timer *time.Timer
	var timerC <-chan time.Time
	for {
		stopping := false
		select {
		case <-b.wake:
		case <-timerC:
			timerC = nil
		case <-b.stopWrite:
			stopping = true
		}
		b.mu.Lock()
		batch := b.pending
		b.pending, b.pendingBytes = nil, 0
		interval := b.lim.FsyncInterval
		if len(batch) > 0 {
			b.signalRoom()
		}
		b.mu.Unlock()
		w.write(batch)
		if len(w.unsynced) > 0 {
			now := time.Now()
			due := w.lastSync.Add(interval)
			switch {
			case stopping || interval <= 0 || !now.Before(due):
				if timer != nil {
					timer.Stop()
					timerC = nil
				}
				w.sync(now)
			case timerC == nil:
				timer = time.NewTimer(due.Sub(now))
				timerC = timer.C
			}
		}
		if stopping {
			w.shutdown()
			return
		}
	}
}

// write writes the records of one group (without syncing).
func (w *writer) write(batch []*record) {
	for i, r := range batch {
		if err := w.add(r); err != nil {
			w.fail(err, batch[i:])
			return
		}
	}
	if err := w.flush(); err != nil {
		w.fail(err, nil)
	}
}

func (w *writer) add(r *record) error {
	if w.head == nil || w.off >= w.b.segSize {
		if err := w.roll(); err != nil {
			return err
		}
	}
	if len(w.buf) > 0 && len(w.buf)+len(r.data) > writeChunk {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if len(r.data) >= writeChunk/2 {
		// Large records go to the file directly.
		if err := w.flush(); err != nil {
			return err
		}
		_, err := w.head.w.WriteAt(r.data, w.off)
		w.off += r.size
		w.unsynced = append(w.unsynced, r)
		r.free()
		w.setSize()
		if err != nil {
			return fmt.Errorf("writing %s: %w", w.head.path, err)
		}
		return nil
	}
	if len(w.buf) == 0 {
		w.bufOff = w.off
	}
	w.buf = append(w.buf, r.data...)
	w.off += r.size
	w.unsynced = append(w.unsynced, r)
	r.free()
	return nil
}

// flush writes the gathered records.
func (w *writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.head.w.WriteAt(w.buf, w.bufOff)
	w.buf = w.buf[:0]
	w.setSize()
	if err != nil {
		return fmt.Errorf("writing %s: %w", w.head.path, err)
	}
	return nil
}

// setSize publishes the head's size (written bytes, for accounting).
func (w *writer) setSize() {
	w.b.mu.Lock()
	w.head.size = w.off
	w.b.mu.Unlock()
}

// roll starts a new head segment.
func (w *writer) roll() error {
	if err := w.flush(); err != nil {
		return err
	}
	b := w.b
	b.mu.Lock()
	id := b.nextID
	b.nextID++
	b.mu.Unlock()
	s, err := createSegment(b.dir, id)
	if err != nil {
		return err
	}
	if w.head != nil {
		w.toSeal = append(w.toSeal, w.head)
	}
	w.head, w.off, w.dirDirty = s, segmentHeaderLen, true
	b.mu.Lock()
	b.segs = append(b.segs, s)
	b.diskBytes += segmentHeaderLen
	b.mu.Unlock()
	return nil
}

// sync makes everything written durable, lets the reader see it and
// acknowledges it upstream.
func (w *writer) sync(now time.Time) {
	w.lastSync = now
	if err := w.syncFiles(); err != nil {
		w.fail(err, nil)
		return
	}
	b := w.b
	b.mu.Lock()
	for _, s := range w.toSeal {
		s.durable, s.sealed = s.size, true
	}
	if w.head != nil {
		w.head.durable = w.off
	}
	b.signalReady()
	b.mu.Unlock()
	for _, s := range w.toSeal {
		s.w.Close()
		s.w = nil
	}
	w.toSeal, w.dirDirty = nil, false
	b.writeFails.End("disk buffer: writing works again")
	for i, r := range w.unsynced {
		r.parent.Release(event.Delivered)
		w.unsynced[i] = nil
	}
	w.unsynced = w.unsynced[:0]
}

func (w *writer) syncFiles() error {
	if err := w.flush(); err != nil {
		return err
	}
	for _, s := range w.toSeal {
		if err := s.w.Sync(); err != nil {
			return fmt.Errorf("syncing %s: %w", s.path, err)
		}
	}
	if w.head != nil {
		if err := w.head.w.Sync(); err != nil {
			return fmt.Errorf("syncing %s: %w", w.head.path, err)
		}
	}
	if w.dirDirty {
		return syncDir(w.b.dir)
	}
	return nil
}

// fail handles a write or sync error: the records not known to be durable
// are released Failed (their sources read them again), and the segments
// involved are sealed at what was synced, so that nothing is ever written
// after data of unknown state. The next record starts a new segment.
// unwritten are records that never reached a segment.
func (w *writer) fail(err error, unwritten []*record) {
	b := w.b
	b.m.Errors("buffer_write").Inc()
	failed := append(w.unsynced, unwritten...)
	var events, bytes, unwrittenBytes int64
	for _, r := range failed {
		events += r.events
		bytes += r.size
	}
	b.writeFails.Fail("disk buffer: write failed; the batches concerned are released as failed and read again by their sources",
		"write_failed", err, int(events))
	for _, r := range unwritten {
		unwrittenBytes += r.size
		r.free()
	}
	b.mu.Lock()
	for _, s := range w.toSeal {
		s.sealed = true
	}
	if w.head != nil {
		w.head.sealed = true
	}
	b.live -= len(failed)
	b.liveEvents -= events
	b.liveBytes -= bytes
	b.diskBytes -= unwrittenBytes
	b.signalReady()
	b.signalRoom()
	b.mu.Unlock()
	b.m.BufferEvents.Sub(float64(events))
	b.m.BufferBytes.Sub(float64(bytes))
	for _, s := range append(w.toSeal, w.head) {
		if s != nil && s.w != nil {
			s.w.Close()
			s.w = nil
		}
	}
	w.head, w.toSeal, w.unsynced, w.dirDirty = nil, nil, nil, false
	w.buf = w.buf[:0]
	for _, r := range failed {
		r.parent.Release(event.Failed)
	}
}

// shutdown closes the head after the last sync.
func (w *writer) shutdown() {
	if w.head == nil {
		return
	}
	w.b.mu.Lock()
	w.head.sealed = true
	w.b.mu.Unlock()
	w.head.w.Close()
	w.head.w = nil
}
