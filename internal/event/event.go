// Package event defines what flows through drover's pipeline: events, the
// metadata they share by reference, batches and their acknowledgements. It is
// a leaf package that every component imports.
package event

import "time"

// Flags are per-event markers set by sources.
type Flags uint8

const (
	// Truncated marks a message cut at the source's max_line_bytes.
	Truncated Flags = 1 << iota
	// Partial marks a message flushed without its line terminator (the file
	// ended or the partial-line timeout ran out).
	Partial
)

// Event is one log line or record.
//
// An event inside a batch that was emitted is immutable: several sinks may
// read it at once. A transform that changes events builds new ones.
type Event struct {
	// Timestamp is when the record was produced, or read when the source
	// cannot know better.
	Timestamp time.Time
	// Message is the record's payload without its line terminator. Sources
	// usually point it into a buffer shared by the batch.
	Message []byte
	// Meta is the origin of the event, shared by every event of the same
	// stream (file, task stream, ...). Never nil once a source emitted it.
	Meta *Meta
	// Fields are extra per-event fields (parsed payloads, source-specific
	// attributes); nil for most log lines.
	Fields *Fields
	// Flags mark truncated or partial messages.
	Flags Flags
}

// Get returns the value at a dotted path: "message", "timestamp", then the
// event's own Fields, then its Meta ("file", "host", "nomad.job_name").
func (e *Event) Get(path string) (Value, bool) {
	switch path {
	case "message":
		return BytesValue(e.Message), true
	case "timestamp":
		return TimeValue(e.Timestamp), true
	}
	if e.Fields != nil {
		if v, ok := e.Fields.Get(path); ok {
			return v, true
		}
	}
	if e.Meta != nil && e.Meta.Fields != nil {
		return e.Meta.Fields.Get(path)
	}
	return Value{}, false
}

// Meta is the immutable description of where events come from, built once per
// stream and shared by all its events, so that enrichment costs nothing per
// line. Its Fields are encoded into every event of the stream ("file",
// "host", "source_type", "nomad": {...}).
type Meta struct {
	// Source is the id of the component that emitted the events.
	Source string
	// Fields are the stream's fields. Never modified after NewMeta.
	Fields *Fields
	// json caches the fields as JSON object members, without braces.
	json []byte
}

// NewMeta builds the shared metadata of one stream. The fields must not be
// changed afterwards.
func NewMeta(source string, fields *Fields) *Meta {
	m := &Meta{Source: source, Fields: fields}
	if fields != nil {
		m.json = fields.AppendJSONMembers(nil, nil)
	}
	return m
}

// JSONMembers returns the metadata fields encoded as JSON object members
// ("k":v,"k2":v2), without braces, cached at construction. Callers must not
// modify the returned slice.
func (m *Meta) JSONMembers() []byte { return m.json }

// Batch is a group of events that travel and are acknowledged together.
// Once emitted, a batch and its events are read-only.
type Batch struct {
	Events []Event
	// Ack reports the batch's fate to its source; never nil once emitted.
	Ack *Ack
}

// MessageBytes is the sum of the message lengths in the batch.
func (b *Batch) MessageBytes() int {
	n := 0
	for i := range b.Events {
		n += len(b.Events[i].Message)
	}
	return n
}

// GetPath is Get for a path given as segments, which may contain dots
// (["nomad", "meta", "drover.parser"]).
func (e *Event) GetPath(segs []string) (Value, bool) {
	if len(segs) == 0 {
		return Value{}, false
	}
	if len(segs) == 1 {
		switch segs[0] {
		case "message":
			return BytesValue(e.Message), true
		case "timestamp":
			return TimeValue(e.Timestamp), true
		}
	}
	if e.Fields != nil {
		if v, ok := e.Fields.LookupPath(segs); ok {
			return v, true
		}
	}
	if e.Meta != nil && e.Meta.Fields != nil {
		return e.Meta.Fields.LookupPath(segs)
	}
	return Value{}, false
}
