package loki

import (
	"unicode/utf8"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
)

// lineEncoder is the batch.Encoder of the Loki sink: it appends each
// event's log line, so that a request's Body is its lines one after the
// other, request.Encoded(i) is the line of event i, and batch.max_bytes
// bounds the size of the lines. The push body, which groups the lines by
// stream, is built when the request is sent. lineEncoder has no state and
// is safe for concurrent use.
type lineEncoder struct {
	text bool
}

// AppendEvent appends e's line: the event as a JSON object, or its message
// with invalid UTF-8 replaced by U+FFFD.
func (l lineEncoder) AppendEvent(dst []byte, e *event.Event, n int) []byte {
	if l.text {
		return appendValidUTF8(dst, e.Message)
	}
	return codec.AppendJSON(dst, e)
}

// AppendEnd appends nothing.
func (lineEncoder) AppendEnd(dst []byte, n int) []byte { return dst }

// appendValidUTF8 appends b with every invalid UTF-8 sequence replaced by
// U+FFFD.
func appendValidUTF8(dst, b []byte) []byte {
	if utf8.Valid(b) {
		return append(dst, b...)
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, b[i:i+size]...)
		}
		i += size
	}
	return dst
}
