// Package codec encodes events for sinks: one event as a JSON object or as
// its bare message, and the framings that join encoded events into a body
// (newline-delimited lines, a JSON array). Encoders append to a caller-owned
// []byte, use no reflection and do not allocate per event.
package codec

import (
	"fmt"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/jsonenc"
)

// Keys that AppendJSON writes itself. A field of the event or of its Meta
// with one of these keys is left out, so that the object never holds a key
// twice.
const (
	keyTimestamp = "timestamp"
	keyMessage   = "message"
	keyTruncated = "truncated"
	keyPartial   = "partial"
)

// AppendJSON appends e as one JSON object, without a line terminator:
//
//	{"timestamp":"<RFC 3339, nanoseconds, UTC>","message":"...",<e.Fields>,<e.Meta fields>,"truncated":true,"partial":true}
//
// The event's own Fields come first, then its Meta's fields except those
// whose key the event's Fields already set (an event overrides its stream's
// metadata). "truncated" and "partial" appear only when e.Flags say so.
// Fields named "timestamp" or "message", and "truncated"/"partial" when the
// flag is set, are left out: those keys belong to the event itself. Invalid
// UTF-8 in the message or in strings becomes U+FFFD; control characters
// (NUL included) are escaped. The result is always valid JSON as long as
// every raw JSON value in the fields is valid JSON.
func AppendJSON(dst []byte, e *event.Event) []byte {
	return AppendJSONTimestampAs(dst, e, keyTimestamp)
}

// AppendJSONTimestampAs is AppendJSON with the event's time under the key
// tsKey instead of "timestamp" (elasticsearch's timestamp_field):
//
//	{"<tsKey>":"<RFC 3339, nanoseconds, UTC>","message":"...",<e.Fields>,<e.Meta fields>,"truncated":true,"partial":true}
//
// Fields named tsKey (not "timestamp") are left out instead.
func AppendJSONTimestampAs(dst []byte, e *event.Event, tsKey string) []byte {
	if tsKey == keyTimestamp {
		dst = append(dst, `{"timestamp":`...)
	} else {
		dst = append(dst, '{')
		dst = jsonenc.AppendString(dst, tsKey)
		dst = append(dst, ':')
	}
	dst = jsonenc.AppendTime(dst, e.Timestamp)
	dst = append(dst, `,"message":`...)
	dst = jsonenc.AppendBytes(dst, e.Message)
	own := e.Fields
	for _, f := range own.All() {
		if reserved(f.Key, tsKey, e.Flags) {
			continue
		}
		dst = appendMember(dst, f)
	}
	if e.Meta != nil {
		dst = appendMeta(dst, e.Meta, own, tsKey, e.Flags)
	}
	if e.Flags&event.Truncated != 0 {
		dst = append(dst, `,"truncated":true`...)
	}
	if e.Flags&event.Partial != 0 {
		dst = append(dst, `,"partial":true`...)
	}
	return append(dst, '}')
}

// appendMeta appends the metadata's members. The members cached in the Meta
// are copied as they are when no key needs to be left out, which is the
// common case; otherwise the fields are encoded one by one.
func appendMeta(dst []byte, m *event.Meta, own *event.Fields, tsKey string, flags event.Flags) []byte {
	cached := m.JSONMembers()
	if len(cached) == 0 {
		return dst
	}
	clean := true
	for _, f := range m.Fields.All() {
		if reserved(f.Key, tsKey, flags) {
			clean = false
			break
		}
		if own.Len() > 0 {
			if _, dup := own.Lookup(f.Key); dup {
				clean = false
				break
			}
		}
	}
	if clean {
		dst = append(dst, ',')
		return append(dst, cached...)
	}
	for _, f := range m.Fields.All() {
		if reserved(f.Key, tsKey, flags) {
			continue
		}
		if _, dup := own.Lookup(f.Key); dup {
			continue
		}
		dst = appendMember(dst, f)
	}
	return dst
}

func appendMember(dst []byte, f event.Field) []byte {
	dst = append(dst, ',')
	dst = jsonenc.AppendString(dst, f.Key)
	dst = append(dst, ':')
	return f.Value.AppendJSON(dst)
}

// reserved reports whether key is written by AppendJSONTimestampAs itself
// for an event with the given flags and timestamp key.
func reserved(key, tsKey string, flags event.Flags) bool {
	switch key {
	case tsKey, keyMessage:
		return true
	case keyTruncated:
		return flags&event.Truncated != 0
	case keyPartial:
		return flags&event.Partial != 0
	}
	return false
}

// AppendText appends the event's message exactly as it is, without a line
// terminator. Nothing is escaped: a message holding a newline spans several
// lines of output.
func AppendText(dst []byte, e *event.Event) []byte {
	return append(dst, e.Message...)
}

// Encoding says how one event is written: as a JSON object or as its bare
// message.
type Encoding uint8

const (
	// JSON encodes events with AppendJSON.
	JSON Encoding = iota
	// Text writes only the message, with AppendText.
	Text
)

// ParseEncoding returns the encoding named "json" or "text".
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "json":
		return JSON, nil
	case "text":
		return Text, nil
	}
	return 0, fmt.Errorf("unknown encoding %q (want \"json\" or \"text\")", s)
}

// String returns the encoding's configuration name.
func (enc Encoding) String() string {
	if enc == Text {
		return "text"
	}
	return "json"
}

// Append appends e in this encoding.
func (enc Encoding) Append(dst []byte, e *event.Event) []byte {
	if enc == Text {
		return AppendText(dst, e)
	}
	return AppendJSON(dst, e)
}

// Lines frames events one per line: each event is followed by "\n". With
// the JSON encoding the body is NDJSON (JSON Lines).
//
// Lines and Array both have the methods AppendEvent and AppendEnd, so they
// serve as a batch.Encoder: AppendEvent is called for the events of a body
// in order with n = 0, 1, 2, ...; AppendEnd once after the last.
type Lines struct {
	Encoding Encoding
}

// AppendEvent appends the n-th event of a body and its line terminator.
func (l Lines) AppendEvent(dst []byte, e *event.Event, n int) []byte {
	dst = l.Encoding.Append(dst, e)
	return append(dst, '\n')
}

// AppendEnd appends nothing: a body of lines needs no closing.
func (l Lines) AppendEnd(dst []byte, n int) []byte { return dst }

// Array frames events as the elements of one JSON array:
// [{"message":...},{"message":...}]. An empty body is [].
type Array struct{}

// AppendEvent appends the n-th event of the array, preceded by "[" when it
// is the first and by "," otherwise.
func (Array) AppendEvent(dst []byte, e *event.Event, n int) []byte {
	if n == 0 {
		dst = append(dst, '[')
	} else {
		dst = append(dst, ',')
	}
	return AppendJSON(dst, e)
}

// AppendEnd closes an array that holds n events.
func (Array) AppendEnd(dst []byte, n int) []byte {
	if n == 0 {
		dst = append(dst, '[')
	}
	return append(dst, ']')
}
