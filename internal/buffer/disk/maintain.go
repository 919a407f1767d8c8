package disk

import (
	"errors"
	"os"
	"time"
)

// maintainLoop persists the acknowledged position, deletes the segments it
// passed and updates the age gauge, every ackInterval and whenever the
// position enters a new segment, until Close.
func (b *Buffer) maintainLoop() {
	defer b.wg.Done()
	t := time.NewTicker(ackInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-b.maint:
		case <-b.stopMaint:
			return
		}
		b.mu.Lock()
		pos := b.ackPos
		b.mu.Unlock()
		_ = b.persist(pos) // logged and counted; retried at the next tick
		b.updateAge()
	}
}

// persist saves pos when it changed and deletes the segments before it.
func (b *Buffer) persist(pos position) error {
	b.mu.Lock()
	same := pos == b.persisted
	b.mu.Unlock()
	if same {
		return nil
	}
	if err := saveAck(b.dir, pos); err != nil {
		b.m.Errors("buffer_ack").Inc()
		b.ackFails.Fail("disk buffer: cannot save the acknowledged position; retrying (acknowledged segments are kept meanwhile)",
			"ack_save_failed", err, 0)
		return err
	}
	b.ackFails.End("disk buffer: saving the acknowledged position works again")
	b.mu.Lock()
	b.persisted = pos
	var doomed, keep []*segment
	for _, s := range b.segs {
		if s.id < pos.seg && s.sealed {
			doomed = append(doomed, s)
			b.diskBytes -= s.size
		} else {
			keep = append(keep, s)
		}
	}
	b.segs = keep
	if len(doomed) > 0 {
		b.signalRoom()
	}
	for at := range b.reported {
		if at.seg < pos.seg {
			delete(b.reported, at)
		}
	}
	b.mu.Unlock()
	for _, s := range doomed {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			b.log.Warn("disk buffer: cannot delete an acknowledged segment", "file", s.path, "error", err)
		}
	}
	return nil
}

// updateAge sets the oldest-event-age gauge from the oldest record that is
// not acknowledged yet, by the time it was written to the buffer.
func (b *Buffer) updateAge() {
	b.mu.Lock()
	var oldest int64
	if e, ok := b.acks.First(func(e *entry) bool { return e.recOff >= 0 }); ok {
		oldest = e.writtenAt
	}
	if oldest == 0 && b.live > 0 {
		oldest = b.scanOldest
	}
	b.mu.Unlock()
	age := 0.0
	if oldest > 0 {
		age = max(0, time.Since(time.Unix(0, oldest)).Seconds())
	}
	b.m.BufferAge.Set(age)
}
