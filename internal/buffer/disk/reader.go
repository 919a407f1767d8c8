package disk

import (
	"context"
	"os"

	"github.com/drover-dev/drover/internal/event"
)

// reader is Next's state, guarded by Buffer.readMu.
type reader struct {
	f     *os.File // the segment being read
	seg   uint64
	win   window
	rr    window // for records handed out again
	cache *metaCache
}

func (r *reader) init() { r.cache = newMetaCache() }

func (r *reader) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

func (r *reader) open(s *segment) error {
	if r.f != nil && r.seg == s.id {
		return nil
	}
	r.close()
	f, err := os.Open(s.path)
	if err != nil {
		return err
	}
	r.f, r.seg = f, s.id
	r.win.reset(f)
	return nil
}

// Next returns the next batch for the sink, waiting until there is one, ctx
// ends (ctx.Err()) or the buffer is closed (ErrClosed). Batches released
// Failed come again first; the others come in the order they were pushed.
//
// The caller releases the batch's Ack exactly once: Delivered or Rejected
// acknowledges it (the buffer deletes it once everything before it is
// acknowledged too), Failed makes Next return it again. The events point
// into memory of their own that stays valid while the caller holds them.
func (b *Buffer) Next(ctx context.Context) (*event.Batch, error) {
	b.readMu.Lock()
	defer b.readMu.Unlock()
	for {
		b.mu.Lock()
		if b.closing {
			b.mu.Unlock()
			return nil, ErrClosed
		}
		if len(b.redeliver) > 0 {
			e := b.redeliver[0]
			b.redeliver = b.redeliver[1:]
			s := b.segment(e.seg)
			b.mu.Unlock()
			if batch := b.reread(s, e); batch != nil {
				return batch, nil
			}
			continue
		}
		s := b.segment(b.cur.seg)
		if s != nil {
			if off, limit := max(b.cur.off, segmentHeaderLen), s.durable; off < limit {
				b.mu.Unlock()
				if batch := b.readAt(s, off, limit); batch != nil {
					return batch, nil
				}
				continue
			}
		}
		if (s == nil || s.sealed) && b.stepPast(s) {
			b.mu.Unlock()
			continue
		}
		wait := b.ready
		b.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-b.closed:
			return nil, ErrClosed
		}
	}
}

// stepPast moves the reader from the exhausted segment s (nil when the
// reader's segment does not exist) to the next one. When there is none yet,
// a sealed segment is still left, for the one the writer creates next (its
// id is larger), so that the acknowledged position passes it and it can be
// deleted. It reports whether the reader moved. Callers hold b.mu.
func (b *Buffer) stepPast(s *segment) bool {
	to := uint64(0)
	if next := b.segmentAfter(b.cur.seg); next != nil {
		to = next.id
	} else if s != nil {
		to = s.id + 1
	}
	if to == 0 {
		return false
	}
	b.push(&entry{seg: b.cur.seg, recOff: -1, end: position{seg: to, off: segmentHeaderLen}, settled: true})
	return true
}

// readAt reads the first record at or after off in s. It returns nil when
// there was nothing to hand out (damage, an undecodable record); the
// reader's position has then moved on.
func (b *Buffer) readAt(s *segment, off, limit int64) *event.Batch {
	skipTo := func(end int64) {
		b.mu.Lock()
		b.push(&entry{seg: s.id, recOff: -1, end: position{seg: s.id, off: end}, settled: true})
		b.mu.Unlock()
	}
	if err := b.rd.open(s); err != nil {
		b.report(s, damage{off: off, end: limit, reason: "cannot open: " + err.Error()})
		skipTo(limit)
		return nil
	}
	res, err := scanNext(&b.rd.win, off, limit)
	if err != nil {
		b.report(s, damage{off: off, end: limit, reason: err.Error()})
		skipTo(limit)
		return nil
	}
	if res.bad != nil {
		b.report(s, *res.bad)
	}
	if !res.found {
		skipTo(res.end)
		return nil
	}
	evs, info, counted := b.decode(s, res.off, res.end, res.payload)
	e := &entry{seg: s.id, recOff: res.off, end: position{seg: s.id, off: res.end},
		bytes: res.end - res.off, events: int64(info.events), writtenAt: info.writtenAt}
	if !counted {
		e.recOff, e.bytes = -1, 0
	}
	var batch *event.Batch
	if len(evs) == 0 {
		e.settled = true
	} else {
		batch = &event.Batch{Events: evs, Ack: b.newAck(e)}
	}
	b.mu.Lock()
	b.scanOldest = 0
	b.push(e)
	if s.sealed && e.end.off >= s.durable {
		// That was the segment's last record: step on now, so that the
		// segment goes as soon as the record is acknowledged.
		b.stepPast(s)
	}
	b.mu.Unlock()
	return batch
}

// reread reads e's record again for a batch that was released Failed.
func (b *Buffer) reread(s *segment, e *entry) *event.Batch {
	giveUp := func(reason string) *event.Batch {
		if s != nil {
			b.report(s, damage{off: e.recOff, end: e.end.off, reason: reason})
		}
		b.mu.Lock()
		b.settleOK(e)
		b.mu.Unlock()
		return nil
	}
	if s == nil {
		return giveUp("segment gone")
	}
	f, err := os.Open(s.path)
	if err != nil {
		return giveUp("cannot open: " + err.Error())
	}
	defer f.Close()
	b.rd.rr.reset(f)
	res, err := scanNext(&b.rd.rr, e.recOff, e.end.off)
	switch {
	case err != nil:
		return giveUp(err.Error())
	case !res.found || res.off != e.recOff:
		return giveUp("record damaged since it was first read")
	}
	evs, _, _ := b.decode(s, e.recOff, e.end.off, res.payload)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(evs) == 0 {
		b.settleOK(e)
		return nil
	}
	return &event.Batch{Events: evs, Ack: b.newAck(e)}
}

// decode decodes the verified payload of the record at [off, end) of s. It
// returns no events, after reporting, when the payload cannot be decoded (a
// record of another format version, or damage the checksum missed).
// counted tells whether Open counted the record as live (its fixed header
// is readable).
func (b *Buffer) decode(s *segment, off, end int64, payload []byte) (evs []event.Event, info payloadInfo, counted bool) {
	info, err := readPayloadInfo(payload)
	counted = err == nil
	if err == nil {
		data := make([]byte, len(payload))
		copy(data, payload)
		evs, _, err = decodeBatch(data, b.rd.cache)
	}
	if err != nil {
		b.report(s, damage{off: off, end: end, reason: "undecodable record: " + err.Error()})
		return nil, info, counted
	}
	return evs, info, counted
}
