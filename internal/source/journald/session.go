package journald

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
)

// errRewind ends a session because a batch failed: reading starts again at
// the committed position.
var errRewind = errors.New("rewinding to the last acknowledged entry")

// session runs one journalctl from s.resume, emitting its entries, until
// it ends, fails, a batch fails or ctx ends. read reports whether it read
// an entry.
func (s *Source) session(ctx context.Context, out component.Emitter) (read bool, err error) {
	st := s.resume
	if st.cursor != "" {
		if err := s.checkCursor(ctx, st.cursor); err != nil {
			return false, err
		}
	}
	if st.now {
		// A rewind before anything was acknowledged starts here again, not
		// at a later "now".
		s.initial = origin{since: time.Now()}
	}
	p, err := startProcess(ctx, s.path, s.cfg.followArgs(st), maxLineBytes, s.stderrLine)
	if err != nil {
		return false, err
	}
	s.log.Debug("journalctl started", "start", st.String())
	healthy := time.AfterFunc(healthyAfter, s.readingWorks)
	defer healthy.Stop()

	// A failed batch stops journalctl, so that a read blocked on it
	// returns.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-s.tracker.Failures():
			p.stop()
		case <-done:
		}
	}()

	r := reading{s: s, skip: st.cursor}
	for {
		line, skipped, rerr := p.lines.next()
		if s.tracker.FailedBatch() {
			_ = p.wait()
			return r.read, errRewind
		}
		if rerr != nil {
			// journalctl ended: what it wrote before is good.
			eerr := r.flush(ctx, out)
			werr := p.wait()
			switch {
			case eerr != nil:
				return r.read, eerr
			case !errors.Is(rerr, io.EOF):
				return r.read, fmt.Errorf("reading journalctl's output: %w", rerr)
			case werr != nil:
				return r.read, werr
			}
			return r.read, errors.New("journalctl ended")
		}
		if skipped > 0 {
			s.tooLarge(skipped)
		} else {
			r.line(line)
		}
		if r.n >= maxBatchEvents || !p.lines.buffered() {
			if err := r.flush(ctx, out); err != nil {
				_ = p.wait()
				return r.read, err
			}
		}
	}
}

// reading is the state of one session: the batch being filled and the
// position of the last entry read.
type reading struct {
	s    *Source
	skip string // the cursor the session started at: its entry was delivered
	read bool

	entry    rawEntry
	events   []event.Event
	n        int
	cursor   []byte // of the last entry read
	realtime int64  // of the last entry read
	moved    bool   // an entry was read since the last flush
}

// line handles one line of journalctl's output.
func (r *reading) line(line []byte) {
	s := r.s
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	if bytes.HasPrefix(line, []byte("-- ")) {
		// --show-cursor's "-- cursor: …" and informational lines.
		return
	}
	now := time.Now()
	if err := decodeEntry(line, &r.entry); err != nil {
		s.m.Errors("decode").Inc()
		s.m.Discarded("invalid_entry").Inc()
		s.log.Error("discarding a journalctl line that is not a journal entry", "error", err, "line", clip(line, 200))
		return
	}
	cursor, ok := r.entry.lookup(fieldCursor)
	if !ok {
		s.m.Errors("decode").Inc()
		s.m.Discarded("invalid_entry").Inc()
		s.log.Error("discarding a journal entry without __CURSOR", "line", clip(line, 200))
		return
	}
	if r.skip != "" {
		skip := r.skip
		r.skip = ""
		if string(cursor) == skip {
			return // the entry of the cursor the session started at
		}
	}
	r.read = true
	s.m.ReceivedEvents.Inc()
	s.m.ReceivedBytes.Add(float64(len(line)))
	r.cursor = append(r.cursor[:0], cursor...)
	r.realtime = 0
	if rt, ok := r.entry.lookup(fieldRealtime); ok {
		r.realtime, _ = parseMicros(rt)
	}
	r.moved = true
	if s.build.excluded(&r.entry) {
		s.m.Discarded("excluded").Inc()
		return
	}
	if r.events == nil {
		r.events = make([]event.Event, 0, 64)
	}
	r.events = append(r.events, event.Event{})
	s.build.build(&r.events[len(r.events)-1], &r.entry, now)
	r.n++
}

// flush emits the entries read since the last flush as one batch whose
// acknowledgement commits the position of the last entry read. Entries
// that were all excluded move the position without a batch.
func (r *reading) flush(ctx context.Context, out component.Emitter) error {
	if !r.moved {
		return nil
	}
	s := r.s
	r.moved = false
	pos := position{Cursor: string(r.cursor), Realtime: r.realtime}
	s.resume = origin{cursor: pos.Cursor}
	if r.n == 0 {
		s.tracker.Mark(pos)
		return nil
	}
	b := &event.Batch{Events: r.events, Ack: s.tracker.Add(pos)}
	r.events, r.n = nil, 0
	err := out.Emit(ctx, b)
	b.Ack.Release(event.Delivered)
	if err != nil {
		return fmt.Errorf("emitting journal entries: %w", err)
	}
	s.m.SentEvents.Add(float64(len(b.Events)))
	s.readingWorks()
	return nil
}

// tooLarge counts and logs an entry whose line exceeded maxLineBytes.
func (s *Source) tooLarge(size int) {
	s.m.Discarded("entry_too_large").Inc()
	s.log.Error("discarding a journal entry whose JSON is larger than the source reads",
		"bytes", size, "limit", maxLineBytes)
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
