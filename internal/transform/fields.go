package transform

import (
	"strings"
	"sync"
	"unsafe"

	"github.com/drover-dev/drover/internal/event"
)

// SplitPath splits a dotted field path ("nomad.meta.team") into segments.
func SplitPath(path string) []string { return strings.Split(path, ".") }

// SetPath sets the field at path segs on e, creating objects on the way.
// e's fields are copied, never changed in place (other consumers may read
// them). An object that only the stream metadata has ("nomad") is copied
// into the event's own fields with the change: an event's own field
// overrides its metadata's.
func SetPath(e *event.Event, segs []string, v event.Value) {
	var s *Scratch
	s.SetPath(e, segs, v)
}

// Scratch is memory for the fields and strings a transform makes while it
// processes batches, allocated in bulk rather than per event. What it
// handed out stays valid and unchanged after later calls: it only ever
// appends, and starts a new chunk when one is full; so a Scratch may serve
// one batch after another (from a sync.Pool), but one at a time. Its zero
// value is ready; a nil *Scratch allocates per call.
type Scratch struct {
	fields event.FieldArena
	text   []byte
}

// SetPath is the package's SetPath with the new field lists made in s.
func (s *Scratch) SetPath(e *event.Event, segs []string, v event.Value) {
	e.Fields = s.setIn(e.Fields, e.Meta, segs, v)
}

func (s *Scratch) setIn(own *event.Fields, meta *event.Meta, segs []string, v event.Value) *event.Fields {
	if len(segs) == 1 {
		return s.with(own, segs[0], v)
	}
	var child *event.Fields
	if cv, ok := own.Lookup(segs[0]); ok {
		child = cv.Object()
	} else if meta != nil {
		if mv, ok := meta.Fields.Lookup(segs[0]); ok {
			child = mv.Object()
		}
	}
	return s.with(own, segs[0], event.ObjectValue(s.setIn(child, nil, segs[1:], v)))
}

// with returns a copy of f with key set to v.
func (s *Scratch) with(f *event.Fields, key string, v event.Value) *event.Fields {
	if s == nil {
		return f.With(event.Field{Key: key, Value: v})
	}
	m := s.fields.Mark()
	for _, fl := range f.All() {
		s.fields.Push(fl)
	}
	s.fields.Set(m, key, v)
	return s.fields.Finish(m)
}

// Text returns a copy of str as bytes (capacity ends with it, so an
// append copies).
func (s *Scratch) Text(str string) []byte {
	if s == nil {
		return []byte(str)
	}
	if cap(s.text)-len(s.text) < len(str) {
		s.text = make([]byte, 0, max(4096, len(str)))
	}
	start := len(s.text)
	s.text = append(s.text, str...)
	return s.text[start:len(s.text):len(s.text)]
}

// String returns a copy of b as a string.
func (s *Scratch) String(b []byte) string {
	t := s.Text(unsafe.String(unsafe.SliceData(b), len(b)))
	return unsafe.String(unsafe.SliceData(t), len(t))
}

// DeletePath removes the field at path segs from e's own fields and, when
// its stream metadata has it, from a copy of the metadata made once per
// stream (cache).
func DeletePath(e *event.Event, segs []string, cache *MetaCache) {
	if _, ok := e.Fields.LookupPath(segs); ok {
		e.Fields = deleteIn(e.Fields, segs)
	}
	if e.Meta != nil {
		if _, ok := e.Meta.Fields.LookupPath(segs); ok {
			e.Meta = cache.Without(e.Meta, segs)
		}
	}
}

func deleteIn(f *event.Fields, segs []string) *event.Fields {
	if len(segs) == 1 {
		return f.Without(segs[0])
	}
	cv, ok := f.Lookup(segs[0])
	if !ok || cv.Object() == nil {
		return f
	}
	return f.With(event.Field{Key: segs[0], Value: event.ObjectValue(deleteIn(cv.Object(), segs[1:]))})
}

// MetaCache keeps, for one removed path, each stream's metadata without
// it, so that a stream's events keep sharing one Meta (and per-stream state
// downstream keeps seeing one stream). Use one per path. It is bounded:
// past maxMetaCache streams it starts over.
type MetaCache struct {
	mu sync.Mutex
	m  map[*event.Meta]*event.Meta
}

const maxMetaCache = 10000

// Without returns m without the field at segs.
func (c *MetaCache) Without(m *event.Meta, segs []string) *event.Meta {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.m[m]; ok {
		return d
	}
	if c.m == nil || len(c.m) >= maxMetaCache {
		c.m = map[*event.Meta]*event.Meta{}
	}
	d := event.NewMeta(m.Source, deleteIn(m.Fields, segs))
	c.m[m] = d
	return d
}
