package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/drover-dev/drover/internal/event"
)

// A record's payload is one batch in a compact binary form. Integers are
// little endian; uvarint and varint are encoding/binary's varints; a string
// is a uvarint length and its bytes.
//
//	u8       version (1)
//	i64      time the record was written, Unix nanoseconds
//	u32      number of events
//	uvarint  number of metadata entries, then each entry as
//	         uvarint length, string source, u8 has-fields, [fields]
//	runs until every event is read: uvarint metadata reference (0 for none,
//	         i+1 for entry i), uvarint run length, then that many events:
//	         varint seconds, uvarint nanoseconds, u8 flags, string message,
//	         u8 has-fields, [fields]
//	fields:  uvarint count, then per field: string key, value
//	value:   u8 kind (event.Kind), then by kind: nothing (null), string
//	         (string, bytes, raw JSON), varint (int), u64 bits (float),
//	         u8 (bool), varint seconds + uvarint nanoseconds (time), fields
//	         (object)
//
// Events of a run share one *event.Meta, and the metadata is written once per
// record however many runs use it. Objects nested deeper than maxDepth are
// written as their raw JSON text, which encodes the same.
const (
	payloadVersion   = 1
	payloadHeaderLen = 1 + 8 + 4
	maxDepth         = 32
)

var errMalformed = errors.New("malformed payload")

// encoder serialises batches. Its scratch space is reused between records; it
// is not safe for concurrent use.
type encoder struct {
	metas []*event.Meta
}

// appendRecord appends a complete record (header and payload) holding evs to
// dst and returns the extended slice.
func (e *encoder) appendRecord(dst []byte, evs []event.Event, writtenAt time.Time) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, recordHeaderLen)...)
	dst = e.appendPayload(dst, evs, writtenAt)
	putRecordHeader(dst[start:start+recordHeaderLen], dst[start+recordHeaderLen:])
	return dst
}

func (e *encoder) appendPayload(dst []byte, evs []event.Event, writtenAt time.Time) []byte {
	dst = append(dst, payloadVersion)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(writtenAt.UnixNano()))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(evs)))
	e.metas = e.metas[:0]
	for i := range evs {
		if m := evs[i].Meta; m != nil && (i == 0 || evs[i-1].Meta != m) && e.metaIndex(m) < 0 {
			e.metas = append(e.metas, m)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.metas)))
	for _, m := range e.metas {
		dst = appendMeta(dst, m)
	}
	for i := 0; i < len(evs); {
		m := evs[i].Meta
		j := i + 1
		for j < len(evs) && evs[j].Meta == m {
			j++
		}
		dst = binary.AppendUvarint(dst, uint64(e.metaIndex(m)+1))
		dst = binary.AppendUvarint(dst, uint64(j-i))
		for k := i; k < j; k++ {
			dst = appendEvent(dst, &evs[k])
		}
		i = j
	}
	for i := range e.metas {
		e.metas[i] = nil
	}
	return dst
}

// metaIndex returns the position of m in the record's metadata table, or -1
// (also for nil). Batches carry few distinct metadata values, so a linear
// scan is the fastest lookup.
func (e *encoder) metaIndex(m *event.Meta) int {
	if m == nil {
		return -1
	}
	for i, x := range e.metas {
		if x == m {
			return i
		}
	}
	return -1
}

func appendMeta(dst []byte, m *event.Meta) []byte {
	// The entry is prefixed with its length so that a reader that already
	// has it in its cache can skip it.
	start := len(dst)
	dst = appendString(dst, m.Source)
	dst = appendOptionalFields(dst, m.Fields)
	return prefixLength(dst, start)
}

// prefixLength inserts the uvarint length of dst[start:] before it.
func prefixLength(dst []byte, start int) []byte {
	n := len(dst) - start
	var tmp [binary.MaxVarintLen64]byte
	w := binary.PutUvarint(tmp[:], uint64(n))
	dst = append(dst, tmp[:w]...)
	copy(dst[start+w:], dst[start:start+n])
	copy(dst[start:], tmp[:w])
	return dst
}

func appendEvent(dst []byte, ev *event.Event) []byte {
	dst = appendTime(dst, ev.Timestamp)
	dst = append(dst, byte(ev.Flags))
	dst = binary.AppendUvarint(dst, uint64(len(ev.Message)))
	dst = append(dst, ev.Message...)
	return appendOptionalFields(dst, ev.Fields)
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendOptionalFields(dst []byte, f *event.Fields) []byte {
	if f == nil {
		return append(dst, 0)
	}
	return appendFields(append(dst, 1), f, 0)
}

func appendFields(dst []byte, f *event.Fields, depth int) []byte {
	all := f.All()
	dst = binary.AppendUvarint(dst, uint64(len(all)))
	for i := range all {
		dst = appendString(dst, all[i].Key)
		dst = appendValue(dst, all[i].Value, depth)
	}
	return dst
}

func appendValue(dst []byte, v event.Value, depth int) []byte {
	k := v.Kind()
	if k == event.KindObject && depth >= maxDepth {
		// Too deep to nest further: keep the JSON text, which sinks encode
		// the same way.
		dst = append(dst, byte(event.KindRawJSON))
		start := len(dst)
		return prefixLength(v.AppendJSON(dst), start)
	}
	dst = append(dst, byte(k))
	switch k {
	case event.KindString, event.KindBytes:
		return appendString(dst, v.Str())
	case event.KindRawJSON:
		// AppendText appends the raw text unchanged.
		start := len(dst)
		return prefixLength(v.AppendText(dst), start)
	case event.KindInt:
		return binary.AppendVarint(dst, v.Int())
	case event.KindFloat:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.Float()))
	case event.KindBool:
		if v.Bool() {
			return append(dst, 1)
		}
		return append(dst, 0)
	case event.KindTime:
		return appendTime(dst, v.Time())
	case event.KindObject:
		return appendFields(dst, v.Object(), depth+1)
	}
	return dst // null
}

// payloadInfo is what the fixed start of a payload tells without decoding it.
type payloadInfo struct {
	writtenAt int64 // Unix nanoseconds
	events    int
}

func readPayloadInfo(p []byte) (payloadInfo, error) {
	if len(p) < payloadHeaderLen || p[0] != payloadVersion {
		if len(p) > 0 && p[0] != payloadVersion {
			return payloadInfo{}, fmt.Errorf("unknown payload version %d", p[0])
		}
		return payloadInfo{}, errMalformed
	}
	n := binary.LittleEndian.Uint32(p[9:13])
	// Every event takes at least five bytes.
	if int64(n)*5 > int64(len(p)) {
		return payloadInfo{}, errMalformed
	}
	return payloadInfo{writtenAt: int64(binary.LittleEndian.Uint64(p[1:9])), events: int(n)}, nil
}

// decodeBatch decodes a payload into events. The events point into data,
// which the caller must not change afterwards. Metadata goes through cache,
// so identical metadata is one shared *event.Meta.
func decodeBatch(data []byte, cache *metaCache) ([]event.Event, payloadInfo, error) {
	info, err := readPayloadInfo(data)
	if err != nil {
		return nil, info, err
	}
	d := &decoder{data: data, pos: payloadHeaderLen}
	nmeta := d.uvarint()
	if nmeta > uint64(d.remaining()) {
		return nil, info, errMalformed
	}
	metas := make([]*event.Meta, 0, nmeta)
	for i := uint64(0); i < nmeta && d.err == nil; i++ {
		raw := d.bytes(d.uvarint())
		if d.err != nil {
			break
		}
		m, err := cache.get(raw)
		if err != nil {
			return nil, info, err
		}
		metas = append(metas, m)
	}
	evs := make([]event.Event, info.events)
	for i := 0; i < len(evs) && d.err == nil; {
		ref, run := d.uvarint(), d.uvarint()
		if d.err != nil {
			break
		}
		if ref > uint64(len(metas)) || run == 0 || run > uint64(len(evs)-i) {
			return nil, info, errMalformed
		}
		var m *event.Meta
		if ref > 0 {
			m = metas[ref-1]
		}
		for end := i + int(run); i < end && d.err == nil; i++ {
			d.event(&evs[i], m)
		}
	}
	if d.err != nil {
		return nil, info, d.err
	}
	if d.pos != len(d.data) {
		return nil, info, fmt.Errorf("%w: %d bytes after the last event", errMalformed, len(d.data)-d.pos)
	}
	return evs, info, nil
}

// decoder reads a payload. The first error sticks; later reads return zero
// values.
type decoder struct {
	data []byte
	pos  int
	err  error
	// copy makes strings and bytes copies instead of views of data (for
	// metadata, which outlives the record in the cache).
	copy bool
}

func (d *decoder) remaining() int { return len(d.data) - d.pos }

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errMalformed
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.data[d.pos:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.data[d.pos:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || d.pos >= len(d.data) {
		d.fail()
		return 0
	}
	b := d.data[d.pos]
	d.pos++
	return b
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil || n > uint64(d.remaining()) {
		d.fail()
		return nil
	}
	b := d.data[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	if d.copy {
		return append([]byte(nil), b...)
	}
	return b
}

func (d *decoder) string() string {
	b := d.bytes(d.uvarint())
	if len(b) == 0 {
		return ""
	}
	// b is never written again: a view of the record's own memory, or a
	// copy when d.copy is set.
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func (d *decoder) time() time.Time {
	sec, nsec := d.varint(), d.uvarint()
	if nsec >= 1e9 {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) event(ev *event.Event, m *event.Meta) {
	ev.Timestamp = d.time()
	ev.Flags = event.Flags(d.byte())
	if msg := d.bytes(d.uvarint()); len(msg) > 0 {
		ev.Message = msg
	}
	ev.Meta = m
	ev.Fields = d.optionalFields()
}

func (d *decoder) optionalFields() *event.Fields {
	switch d.byte() {
	case 0:
		return nil
	case 1:
		return d.fields(0)
	}
	d.fail()
	return nil
}

func (d *decoder) fields(depth int) *event.Fields {
	n := d.uvarint()
	// Every field takes at least two bytes (empty key, null).
	if d.err != nil || n > uint64(d.remaining())/2 {
		d.fail()
		return nil
	}
	fs := make([]event.Field, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		key := d.string()
		fs = append(fs, event.Field{Key: key, Value: d.value(depth)})
	}
	if d.err != nil {
		return nil
	}
	return event.NewFields(fs...)
}

func (d *decoder) value(depth int) event.Value {
	switch event.Kind(d.byte()) {
	case event.KindNull:
		return event.Value{}
	case event.KindString:
		return event.StringValue(d.string())
	case event.KindBytes:
		return event.BytesValue(d.bytes(d.uvarint()))
	case event.KindInt:
		return event.IntValue(d.varint())
	case event.KindFloat:
		b := d.bytes(8)
		if d.err != nil {
			return event.Value{}
		}
		return event.FloatValue(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	case event.KindBool:
		switch d.byte() {
		case 0:
			return event.BoolValue(false)
		case 1:
			return event.BoolValue(true)
		}
	case event.KindTime:
		return event.TimeValue(d.time())
	case event.KindObject:
		if depth >= maxDepth {
			break
		}
		return event.ObjectValue(d.fields(depth + 1))
	case event.KindRawJSON:
		return event.RawJSONValue(d.bytes(d.uvarint()))
	}
	d.fail()
	return event.Value{}
}
