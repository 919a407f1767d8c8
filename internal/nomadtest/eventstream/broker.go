package eventstream

import (
	"errors"
	"sync"
)

// errDropped is what Nomad ends a stream with when the subscriber fell so
// far behind that the item it stood on left the buffer.
var errDropped = errors.New("event dropped from buffer")

// broker is the event buffer of Nomad's event broker
// (nomad/stream/event_buffer.go): the last size items, a subscription
// starting at the closest item to its index, and slow subscribers dropped
// when their item leaves the buffer.
type broker struct {
	mu      sync.Mutex
	size    int
	items   []Item
	headSeq uint64 // sequence number of items[0]
	changed chan struct{}
	// gen changes when the buffer is replaced (agent restart); cursors of
	// an older generation are invalid.
	gen uint64
}

func newBroker(size int) *broker {
	return &broker{size: size, changed: make(chan struct{})}
}

// cursor is a subscription's place in the buffer.
type cursor struct {
	gen      uint64
	next     uint64 // sequence number of the next item to consume
	consumed bool   // a real item was consumed
}

func (b *broker) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// publish appends items, dropping the oldest beyond the buffer's size.
func (b *broker) publish(items ...Item) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.appendLocked(items)
}

// replace swaps the buffer's content for items (an agent restart).
func (b *broker) replace(items []Item) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.headSeq += uint64(len(b.items))
	b.items = nil
	b.gen++
	b.appendLocked(items)
}

func (b *broker) appendLocked(items []Item) {
	b.items = append(b.items, items...)
	if over := len(b.items) - b.size; over > 0 {
		b.items = append([]Item(nil), b.items[over:]...)
		b.headSeq += uint64(over)
	}
	b.notify()
}

// subscribe places a subscription the way EventBroker.Subscribe does:
// index 0 starts at the oldest item; otherwise at the first item whose
// index is at least index, at the oldest when index is older than the
// buffer, and at the newest when index is past it. The start is inclusive.
func (b *broker) subscribe(index uint64) cursor {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := cursor{gen: b.gen, next: b.headSeq}
	if index == 0 || len(b.items) == 0 {
		return c
	}
	for i, it := range b.items {
		if it.Index >= index {
			c.next = b.headSeq + uint64(i)
			return c
		}
	}
	c.next = b.headSeq + uint64(len(b.items)-1)
	return c
}

// next returns the next item for c without blocking, or ok=false and a
// channel that is closed when something changes. It fails with errDropped
// when the item c stood on has left the buffer, and with errReplaced when
// the buffer was replaced.
func (b *broker) next(c *cursor) (item Item, ok bool, changed <-chan struct{}, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.gen != b.gen {
		return Item{}, false, nil, errReplaced
	}
	if c.consumed && c.next-1 < b.headSeq {
		return Item{}, false, nil, errDropped
	}
	if c.next < b.headSeq {
		c.next = b.headSeq
	}
	if i := c.next - b.headSeq; i < uint64(len(b.items)) {
		c.next++
		c.consumed = true
		return b.items[i], true, nil, nil
	}
	return Item{}, false, b.changed, nil
}

// peek returns the item c would get next, if there is one, without moving.
func (b *broker) peek(c cursor) (Item, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.gen != b.gen || c.next < b.headSeq {
		return Item{}, false
	}
	if i := c.next - b.headSeq; i < uint64(len(b.items)) {
		return b.items[i], true
	}
	return Item{}, false
}

// errReplaced ends subscriptions of a buffer that was replaced.
var errReplaced = errors.New("buffer replaced")
