package disk

import "github.com/drover-dev/drover/internal/event"

// maxCachedMetas bounds the metadata cache. One entry exists per task
// stream (or file) in the buffer; when there are more, the cache starts
// over, which costs sharing between old and new records, not correctness.
const maxCachedMetas = 4096

// metaCache turns serialized metadata back into *event.Meta values, one per
// distinct serialization, so that the events read from the buffer share
// their metadata by reference as the events that were written did. It is
// not safe for concurrent use.
type metaCache struct {
	m map[string]*event.Meta
}

func newMetaCache() *metaCache { return &metaCache{m: map[string]*event.Meta{}} }

// get returns the metadata serialized in raw (source and fields, as
// appendMeta wrote them without the length prefix).
func (c *metaCache) get(raw []byte) (*event.Meta, error) {
	if m, ok := c.m[string(raw)]; ok {
		return m, nil
	}
	d := &decoder{data: raw, copy: true}
	source := d.string()
	fields := d.optionalFields()
	if d.err == nil && d.pos != len(raw) {
		d.fail()
	}
	if d.err != nil {
		return nil, d.err
	}
	m := event.NewMeta(source, fields)
	if len(c.m) >= maxCachedMetas {
		clear(c.m)
	}
	c.m[string(raw)] = m
	return m, nil
}
