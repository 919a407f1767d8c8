package tail

import (
	"time"

	"github.com/drover-dev/drover/internal/event"
)

// builder collects the lines of one batch: the events in one slice and their
// messages in one arena. Both are allocated at the first line with the
// capacity the caller estimates from the bytes still to frame, so a batch
// costs two allocations whatever its number of lines, and a message never
// moves once appended.
type builder struct {
	events []event.Event
	arena  []byte
	bytes  int
}

// add appends a line. maxEvents and maxBytes size the first allocation; they
// must bound what will be added to this batch (exceeding them is correct but
// allocates again).
func (b *builder) add(line []byte, flags event.Flags, meta *event.Meta, now time.Time, maxEvents, maxBytes int) {
	if b.events == nil {
		b.events = make([]event.Event, 0, maxEvents)
		b.arena = make([]byte, 0, maxBytes)
	}
	start := len(b.arena)
	b.arena = append(b.arena, line...)
	b.events = append(b.events, event.Event{
		Timestamp: now,
		Message:   b.arena[start:len(b.arena):len(b.arena)],
		Meta:      meta,
		Flags:     flags,
	})
	b.bytes += len(line)
}
