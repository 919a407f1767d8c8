package elasticsearch

import (
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/jsonenc"
)

// bulkEncoder is the batch.Encoder of the sink: it appends each event as
// the two NDJSON lines of a bulk item, the action and the document:
//
//	{"create":{"_index":"logs-web-prod","_id":"..."}}
//	{"@timestamp":"2026-11-21T12:00:00.123456789Z","message":"...",...}
//
// so that a request's Body is a complete _bulk body and
// request.EncodedRange(i, j) is the body of events i to j-1. bulkEncoder
// has no state and is safe for concurrent use.
type bulkEncoder struct {
	action  string // "index" or "create"
	route   *router
	idField string // "" for ids chosen by the cluster
	tsKey   string
}

// AppendEvent appends the action line and the document line of e.
func (b *bulkEncoder) AppendEvent(dst []byte, e *event.Event, n int) []byte {
	dst = append(dst, `{"`...)
	dst = append(dst, b.action...)
	dst = append(dst, `":{"_index":"`...)
	dst = b.route.appendName(dst, e)
	dst = append(dst, '"')
	if b.idField != "" {
		if v, ok := e.Get(b.idField); ok && v.Kind() != event.KindNull {
			dst = appendID(dst, v)
		}
	}
	dst = append(dst, "}}\n"...)
	dst = appendDoc(dst, e, b.tsKey)
	return append(dst, '\n')
}

// AppendEnd appends nothing: the last document line ends with a newline,
// as _bulk requires.
func (*bulkEncoder) AppendEnd(dst []byte, n int) []byte { return dst }

// appendID appends ,"_id":"<v as text>"; an empty value appends nothing.
func appendID(dst []byte, v event.Value) []byte {
	if v.Kind() == event.KindString || v.Kind() == event.KindBytes {
		if v.Str() == "" {
			return dst
		}
		dst = append(dst, `,"_id":`...)
		return jsonenc.AppendString(dst, v.Str())
	}
	start := len(dst)
	dst = append(dst, `,"_id":"`...)
	p := len(dst)
	dst = v.AppendText(dst)
	if len(dst) == p {
		return dst[:start]
	}
	for _, c := range dst[p:] {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			text := string(dst[p:]) // objects and raw JSON only: not the common case
			dst = jsonenc.AppendEscaped(dst[:p], text)
			break
		}
	}
	return append(dst, '"')
}

// appendDoc appends e as one JSON object, like codec.AppendJSON but with
// the event's time under tsKey:
//
//	{"<tsKey>":"<RFC 3339, nanoseconds, UTC>","message":"...",<e.Fields>,<e.Meta fields>,"truncated":true,"partial":true}
//
// Fields named tsKey or "message", and "truncated"/"partial" when the flag
// is set, are left out, so that no key appears twice (a document with a
// duplicate key is refused); a Meta field that an event field of the same
// key overrides is left out too.
func appendDoc(dst []byte, e *event.Event, tsKey string) []byte {
	dst = append(dst, '{')
	dst = jsonenc.AppendString(dst, tsKey)
	dst = append(dst, ':')
	dst = jsonenc.AppendTime(dst, e.Timestamp)
	dst = append(dst, `,"message":`...)
	dst = jsonenc.AppendBytes(dst, e.Message)
	own := e.Fields
	for _, f := range own.All() {
		if !reserved(f.Key, tsKey, e.Flags) {
			dst = appendMember(dst, f)
		}
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

// appendMeta appends the metadata's members: the members cached in the
// Meta when no key needs to be left out, which is the common case, or the
// fields one by one.
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

// reserved reports whether appendDoc writes key itself.
func reserved(key, tsKey string, flags event.Flags) bool {
	switch key {
	case tsKey, "message":
		return true
	case "truncated":
		return flags&event.Truncated != 0
	case "partial":
		return flags&event.Partial != 0
	}
	return false
}
