package elasticsearch

import (
	"github.com/drover-dev/drover/internal/codec"
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

// appendDoc appends e as one JSON object with the event's time under
// tsKey (codec.AppendJSONTimestampAs): no key appears twice (a document
// with a duplicate key is refused).
func appendDoc(dst []byte, e *event.Event, tsKey string) []byte {
	return codec.AppendJSONTimestampAs(dst, e, tsKey)
}
