package cloudwatchlogs

import (
	"bytes"
	"encoding/binary"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/jsonenc"
)

// An encoded event is a header of EventOverhead bytes followed by the
// message as it is sent:
//
//	[0:8]   timestamp, milliseconds since the epoch, little endian
//	[8]     flags (flagTruncated)
//	[9:26]  zero
//
// so that the length of a request body is the request's size as CloudWatch
// counts it (messages in UTF-8 plus 26 bytes per event).
const (
	offTimestamp = 0
	offFlags     = 8

	flagTruncated = 1
)

// truncMarker ends a text message that was truncated. A JSON message is
// truncated inside its "message" field instead and says "truncated":true,
// so that it stays valid JSON.
const truncMarker = "...[truncated]"

// encoder is the sink's batch.Encoder. It does not allocate for events
// that are valid UTF-8 and fit.
type encoder struct {
	encoding codec.Encoding
	// maxMessage is the longest message: max_event_bytes minus the
	// overhead.
	maxMessage int
	// now stands in for the timestamp of an event that has none.
	now func() time.Time
}

// AppendEvent appends the header and the message of e.
func (x encoder) AppendEvent(dst []byte, e *event.Event, n int) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, EventOverhead)...)
	ts := e.Timestamp
	if ts.IsZero() {
		ts = x.now()
	}
	binary.LittleEndian.PutUint64(dst[start+offTimestamp:], uint64(ts.UnixMilli()))
	msg := len(dst)
	dst = x.encoding.Append(dst, e)
	if x.encoding == codec.Text && !utf8.Valid(dst[msg:]) {
		valid := bytes.ToValidUTF8(dst[msg:], []byte("\uFFFD"))
		dst = append(dst[:msg], valid...)
	}
	if len(dst)-msg <= x.maxMessage {
		return dst
	}
	dst[start+offFlags] |= flagTruncated
	if x.encoding == codec.JSON {
		return x.truncateJSON(dst[:msg], e)
	}
	return truncateText(dst, msg, x.maxMessage)
}

// AppendEnd appends nothing: the body is not sent as it is.
func (encoder) AppendEnd(dst []byte, n int) []byte { return dst }

// truncateText cuts the message at dst[msg:] to max bytes, on a UTF-8
// boundary, ending with truncMarker.
func truncateText(dst []byte, msg, max int) []byte {
	keep := max - len(truncMarker)
	if keep < 0 {
		return dst[:msg+runeCut(dst[msg:], max)]
	}
	dst = dst[:msg+runeCut(dst[msg:], keep)]
	return append(dst, truncMarker...)
}

// truncateJSON appends e as JSON with its message shortened so that the
// object fits in maxMessage bytes, flagged truncated. When even an empty
// message does not fit (the fields are too large) the JSON text itself is
// cut like a text message.
func (x encoder) truncateJSON(dst []byte, e *event.Event) []byte {
	msg := len(dst)
	c := *e
	c.Flags |= event.Truncated
	c.Message = nil
	dst = codec.AppendJSON(dst, &c)
	budget := x.maxMessage - (len(dst) - msg) // what the message's escaped text may take
	if budget < 0 {
		return truncateText(dst, msg, x.maxMessage)
	}
	c.Message = e.Message[:escapedPrefix(e.Message, budget)]
	return codec.AppendJSON(dst[:msg], &c)
}

// escapedPrefix returns the length of the longest prefix of m, ending on a
// character boundary, whose JSON-escaped text takes at most budget bytes.
func escapedPrefix(m []byte, budget int) int {
	var buf [8]byte
	n := 0
	for i := 0; i < len(m); {
		_, size := utf8.DecodeRune(m[i:])
		w := len(jsonenc.AppendEscaped(buf[:0], unsafe.String(&m[i], size)))
		if n+w > budget {
			return i
		}
		n += w
		i += size
	}
	return len(m)
}

// runeCut returns n, or less so that p[:n] does not end inside a UTF-8
// sequence.
func runeCut(p []byte, n int) int {
	if n >= len(p) {
		return len(p)
	}
	for n > 0 && !utf8.RuneStart(p[n]) {
		n--
	}
	return n
}

// decoded is one encoded event of a request body.
type decoded struct {
	timestamp int64 // milliseconds
	truncated bool
	message   []byte
}

// decode splits the bytes one AppendEvent call appended.
func decode(enc []byte) decoded {
	return decoded{
		timestamp: int64(binary.LittleEndian.Uint64(enc[offTimestamp:])),
		truncated: enc[offFlags]&flagTruncated != 0,
		message:   enc[EventOverhead:],
	}
}
