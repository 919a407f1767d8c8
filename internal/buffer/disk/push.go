package disk

import (
	"context"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

// record is an encoded batch on its way to disk.
type record struct {
	data     []byte
	pooled   *[]byte // data's buffer, returned to the pool once written
	parent   *event.Ack
	size     int64 // len(data), kept after data went back to the pool
	events   int64
	msgBytes int64
}

const maxPooledRecord = 1 << 20

// splitAbove is the payload size above which a batch is split into several
// records (a variable for tests).
var splitAbove = maxPayload

var (
	encoders = sync.Pool{New: func() any { return &encoder{} }}
	buffers  = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
)

func (r *record) free() {
	if r.pooled != nil && cap(r.data) <= maxPooledRecord {
		*r.pooled = r.data[:0]
		buffers.Put(r.pooled)
	}
	r.data, r.pooled = nil, nil
}

// Push admits the batch into the buffer and returns; the batch's Ack is
// retained and released Delivered once the batch is on disk and fsynced
// (Failed if writing fails). The caller keeps its own hold on the Ack.
//
// When the batch does not fit, Push waits for room (Block) until ctx ends,
// returning ctx.Err(), or discards the batch (DropNewest): the Ack is then
// released Rejected, the events are counted as discarded, and Push returns
// nil. After Retire or Close it returns ErrClosed, also to a Push waiting
// for room. A batch whose record would exceed the maximum record size is
// split into several records.
func (b *Buffer) Push(ctx context.Context, batch *event.Batch) error {
	if len(batch.Events) == 0 {
		return nil
	}
	recs, tooLarge := encodeBatch(batch.Events, time.Now(), nil)
	if tooLarge > 0 {
		b.m.ReceivedEvents.Add(float64(tooLarge))
		b.tooLarge.Add(float64(tooLarge))
		b.log.Error("disk buffer: discarding events larger than the largest record", "events", tooLarge, "max_record_bytes", maxPayload)
		if len(recs) == 0 {
			batch.Ack.Retain(1)
			batch.Ack.Release(event.Rejected)
			return nil
		}
	}
	for i, r := range recs {
		if err := b.admit(ctx, r, batch.Ack); err != nil {
			for _, r := range recs[i:] {
				r.free()
			}
			return err
		}
	}
	return nil
}

// encodeBatch encodes evs into records, halving batches whose record would be
// too large. It returns the number of single events too large to store.
func encodeBatch(evs []event.Event, now time.Time, out []*record) ([]*record, int) {
	enc := encoders.Get().(*encoder)
	buf := buffers.Get().(*[]byte)
	data := enc.appendRecord((*buf)[:0], evs, now)
	encoders.Put(enc)
	if len(data)-recordHeaderLen <= splitAbove {
		r := &record{data: data, pooled: buf, size: int64(len(data)), events: int64(len(evs))}
		for i := range evs {
			r.msgBytes += int64(len(evs[i].Message))
		}
		return append(out, r), 0
	}
	*buf = (*buf)[:0]
	buffers.Put(buf)
	if len(evs) == 1 {
		return out, 1
	}
	half := len(evs) / 2
	out, n1 := encodeBatch(evs[:half], now, out)
	out, n2 := encodeBatch(evs[half:], now, out)
	return out, n1 + n2
}

// admit queues r for the writer once it fits, or drops it. On an error r is
// left to the caller.
func (b *Buffer) admit(ctx context.Context, r *record, parent *event.Ack) error {
	size := r.size
	for {
		b.mu.Lock()
		if b.retired {
			b.mu.Unlock()
			return ErrClosed
		}
		diskOK := b.diskBytes+size <= b.lim.MaxSize || b.live <= 0
		memOK := b.pendingBytes+size <= maxPendingBytes || len(b.pending) == 0
		if diskOK && memOK {
			parent.Retain(1)
			r.parent = parent
			b.pending = append(b.pending, r)
			b.pendingBytes += size
			b.diskBytes += size
			b.live++
			b.liveEvents += r.events
			b.liveBytes += size
			dropped := b.dropping
			b.dropping = 0
			b.mu.Unlock()
			if dropped > 0 {
				b.log.Info("disk buffer has room again", "dropped_events", dropped)
			}
			b.m.ReceivedEvents.Add(float64(r.events))
			b.m.ReceivedBytes.Add(float64(r.msgBytes))
			b.m.BufferEvents.Add(float64(r.events))
			b.m.BufferBytes.Add(float64(size))
			select {
			case b.wake <- struct{}{}:
			default:
			}
			return nil
		}
		if !diskOK && b.lim.WhenFull == DropNewest {
			first := b.dropping == 0
			b.dropping += r.events
			b.mu.Unlock()
			if first {
				b.log.Warn("disk buffer full; dropping new events until there is room (when_full = \"drop_newest\")", "max_size", b.lim.MaxSize)
			}
			b.m.ReceivedEvents.Add(float64(r.events))
			b.m.ReceivedBytes.Add(float64(r.msgBytes))
			b.dropped.Add(float64(r.events))
			r.free()
			parent.Retain(1)
			parent.Release(event.Rejected)
			return nil
		}
		wait := b.room
		b.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
