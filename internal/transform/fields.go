package transform

import (
	"strings"
	"sync"

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
	e.Fields = setIn(e.Fields, e.Meta, segs, v)
}

func setIn(own *event.Fields, meta *event.Meta, segs []string, v event.Value) *event.Fields {
	if len(segs) == 1 {
		return own.With(event.Field{Key: segs[0], Value: v})
	}
	var child *event.Fields
	if cv, ok := own.Lookup(segs[0]); ok {
		child = cv.Object()
	} else if meta != nil {
		if mv, ok := meta.Fields.Lookup(segs[0]); ok {
			child = mv.Object()
		}
	}
	return own.With(event.Field{Key: segs[0], Value: event.ObjectValue(setIn(child, nil, segs[1:], v))})
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
