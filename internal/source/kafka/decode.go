package kafka

import (
	"errors"
	"time"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/jsonscan"
)

// Decodings of record values.
const (
	// DecodingDrover: the value is an event as drover's json encoding
	// writes it (the kafka sink's default); it becomes that event again,
	// with its timestamp, message, flags, fields and shared metadata.
	DecodingDrover = "drover"
	// DecodingJSON: the value is a JSON object whose members become the
	// event's fields; "message" and "timestamp" become the event's own.
	DecodingJSON = "json"
	// DecodingText: the value is the message.
	DecodingText = "text"
)

// metaKeys are the top-level fields drover's sources put in an event's
// shared metadata. With DecodingDrover the run of such members that ends
// an object is the metadata of the event's stream (AppendJSON writes the
// event's own fields first, then its metadata).
var metaKeys = map[string]bool{
	"host": true, "source_type": true, "file": true, "stream": true, "nomad": true, "kubernetes": true,
}

// maxMetas bounds the metadata cache of a decoder. One entry exists per
// stream seen; when there are more, the cache starts over, which costs
// sharing between old and new events, not correctness.
const maxMetas = 4096

// errNotObject is the decode error of a value that is not a JSON object.
var errNotObject = errors.New("the record value is not a JSON object")

// decoder turns record values into events. It is used by one goroutine at
// a time.
//
// Events point into the record values (messages without escapes) and into
// the decoder's arena (decoded strings): the arena is handed out in chunks
// that are never written again, so an emitted batch stays valid after the
// decoder moved on.
type decoder struct {
	mode   string
	source string
	// plain is the metadata of events that carry none of their own:
	// records decoded as text or JSON, and values drover cannot decode.
	plain *event.Meta
	metas map[string]*event.Meta
	keys  map[string]string
	arena []byte
	// members and fields are scratch space reused between records.
	members []member
	fields  []event.Field
}

// member is one top-level member of an object: its key and the byte range
// of the member (from the key's opening quote to the end of its value).
type member struct {
	key        []byte
	keyEscaped bool
	start, end int
	valueStart int
}

func newDecoder(mode, source string, plain *event.Meta) *decoder {
	return &decoder{mode: mode, source: source, plain: plain, metas: map[string]*event.Meta{}, keys: map[string]string{}}
}

// arenaChunk is the size of the blocks decoded strings are copied into.
const arenaChunk = 64 << 10

// keep returns a copy of p in the arena. The copy is never written again.
func (d *decoder) keep(p []byte) []byte {
	if len(p) > cap(d.arena)-len(d.arena) {
		d.arena = make([]byte, 0, max(arenaChunk, len(p)))
	}
	start := len(d.arena)
	d.arena = append(d.arena, p...)
	return d.arena[start:len(d.arena):len(d.arena)]
}

// unescaped returns the content of a string: raw itself when it holds no
// escapes, else its decoded copy in the arena.
func (d *decoder) unescaped(raw []byte, escaped bool) []byte {
	if !escaped {
		return raw
	}
	if len(raw) > cap(d.arena)-len(d.arena) {
		d.arena = make([]byte, 0, max(arenaChunk, len(raw)))
	}
	start := len(d.arena)
	d.arena = jsonscan.AppendUnescaped(d.arena, raw)
	return d.arena[start:len(d.arena):len(d.arena)]
}

// key returns a field key as a string, interned: the same keys repeat in
// every record.
func (d *decoder) key(raw []byte, escaped bool) string {
	if !escaped {
		if k, ok := d.keys[string(raw)]; ok {
			return k
		}
	}
	k := string(jsonscan.AppendUnescaped(nil, raw))
	if len(d.keys) < maxMetas && !escaped {
		d.keys[k] = k
	}
	return k
}

// decode fills dst from one record value, with ts (the record's timestamp)
// as the timestamp of events that do not carry one. extra, when not
// empty, is added to the event's own fields. The value must stay unchanged
// while dst lives. An error means the value could not be decoded as the
// mode asks: dst then holds the value as a plain message, and the error
// says why.
func (d *decoder) decode(dst *event.Event, value []byte, ts time.Time, extra ...event.Field) error {
	*dst = event.Event{Timestamp: ts, Meta: d.plain}
	var err error
	if d.mode != DecodingText {
		if err = d.object(dst, value, extra); err == nil {
			return nil
		}
		*dst = event.Event{Timestamp: ts, Meta: d.plain}
	}
	dst.Message = trimNewline(value)
	if len(extra) > 0 {
		dst.Fields = event.NewFields(extra...)
	}
	return err
}

// trimNewline drops one line terminator ("\n" or "\r\n") at the end.
func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// object decodes a JSON object.
func (d *decoder) object(dst *event.Event, value []byte, extra []event.Field) error {
	s := jsonscan.New(value)
	if s.Peek() != '{' {
		return errNotObject
	}
	if err := s.Enter('{'); err != nil {
		return err
	}
	d.members = d.members[:0]
	for first := true; ; first = false {
		key, escaped, done, err := s.NextMember(first)
		if err != nil {
			return err
		}
		if done {
			break
		}
		// The key points into value: its opening quote starts the member.
		start := cap(value) - cap(key) - 1
		s.SkipSpace()
		vstart := s.Pos
		switch {
		case !escaped && string(key) == "message" && s.Peek() == '"':
			raw, esc, err := s.Str()
			if err != nil {
				return err
			}
			dst.Message = d.unescaped(raw, esc)
			continue
		case !escaped && string(key) == "timestamp" && s.Peek() == '"':
			raw, esc, err := s.Str()
			if err != nil {
				return err
			}
			if t, ok := parseTime(d.unescaped(raw, esc)); ok {
				dst.Timestamp = t
				continue
			}
		case d.mode == DecodingDrover && !escaped && (string(key) == "truncated" || string(key) == "partial") && s.Peek() == 't':
			if err := s.Literal("true"); err != nil {
				return err
			}
			if string(key) == "truncated" {
				dst.Flags |= event.Truncated
			} else {
				dst.Flags |= event.Partial
			}
			continue
		}
		if err := s.Skip(); err != nil {
			return err
		}
		d.members = append(d.members, member{key: key, keyEscaped: escaped, start: start, end: s.Pos, valueStart: vstart})
	}
	if !s.AtEnd() {
		return &jsonscan.SyntaxError{Offset: s.Pos, Msg: "data after the object"}
	}
	own := d.members
	if d.mode == DecodingDrover {
		k := len(own)
		for k > 0 && !own[k-1].keyEscaped && metaKeys[string(own[k-1].key)] {
			k--
		}
		if k < len(own) {
			m, err := d.meta(value, own[k:])
			if err != nil {
				return err
			}
			dst.Meta = m
			own = own[:k]
		}
	}
	if len(own) == 0 && len(extra) == 0 {
		return nil
	}
	fs := d.fields[:0]
	for _, m := range own {
		v, err := d.value(value[m.valueStart:m.end], false)
		if err != nil {
			return err
		}
		fs = append(fs, event.Field{Key: d.key(m.key, m.keyEscaped), Value: v})
	}
	fs = append(fs, extra...)
	dst.Fields = event.NewFields(fs...)
	clear(fs)
	d.fields = fs[:0]
	return nil
}

// meta returns the shared metadata made of the members ms of value,
// cached by their text.
func (d *decoder) meta(value []byte, ms []member) (*event.Meta, error) {
	raw := value[ms[0].start:ms[len(ms)-1].end]
	if m, ok := d.metas[string(raw)]; ok {
		return m, nil
	}
	fs := make([]event.Field, 0, len(ms))
	for _, m := range ms {
		v, err := d.value(value[m.valueStart:m.end], true)
		if err != nil {
			return nil, err
		}
		fs = append(fs, event.Field{Key: d.key(m.key, m.keyEscaped), Value: v})
	}
	m := event.NewMeta(d.source, event.NewFields(fs...))
	if len(d.metas) >= maxMetas {
		clear(d.metas)
	}
	d.metas[string(raw)] = m
	return m, nil
}

// value decodes one JSON value (valid: the scanner accepted it). Strings
// point into raw or the arena unless own is set (metadata outlives the
// record): then they are copied. Integers in canonical form become ints,
// other numbers and arrays stay raw JSON, so that encoding them again
// gives the same text.
func (d *decoder) value(raw []byte, own bool) (event.Value, error) {
	s := jsonscan.New(raw)
	return d.scanValue(&s, own)
}

func (d *decoder) scanValue(s *jsonscan.Scanner, own bool) (event.Value, error) {
	switch c := s.Peek(); c {
	case '"':
		raw, esc, err := s.Str()
		if err != nil {
			return event.Value{}, err
		}
		if own {
			return event.StringValue(string(jsonscan.AppendUnescaped(nil, raw))), nil
		}
		return event.BytesValue(d.unescaped(raw, esc)), nil
	case '{':
		if err := s.Enter('{'); err != nil {
			return event.Value{}, err
		}
		var fs []event.Field
		for first := true; ; first = false {
			key, esc, done, err := s.NextMember(first)
			if err != nil {
				return event.Value{}, err
			}
			if done {
				break
			}
			v, err := d.scanValue(s, own)
			if err != nil {
				return event.Value{}, err
			}
			fs = append(fs, event.Field{Key: d.key(key, esc), Value: v})
		}
		return event.ObjectValue(event.NewFields(fs...)), nil
	case 't', 'f':
		word := "true"
		if c == 'f' {
			word = "false"
		}
		if err := s.Literal(word); err != nil {
			return event.Value{}, err
		}
		return event.BoolValue(c == 't'), nil
	case 'n':
		return event.Value{}, s.Literal("null")
	case '[':
		start := s.Pos
		if err := s.Skip(); err != nil {
			return event.Value{}, err
		}
		return event.RawJSONValue(s.Data[start:s.Pos]), nil
	default:
		txt, err := s.Number()
		if err != nil {
			return event.Value{}, err
		}
		if n, ok := jsonscan.ParseInt(txt); ok {
			return event.IntValue(n), nil
		}
		return event.RawJSONValue(txt), nil
	}
}

// parseTime parses an RFC 3339 time such as drover writes
// ("2026-11-21T12:00:00.123456789Z"), quickly for that shape.
func parseTime(b []byte) (time.Time, bool) {
	if t, ok := parseUTC(b); ok {
		return t, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// parseUTC parses "YYYY-MM-DDTHH:MM:SS[.fraction]Z".
func parseUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 2)
	d, ok3 := num(8, 2)
	h, ok4 := num(11, 2)
	mi, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	ns := 0
	if rest := b[19 : len(b)-1]; len(rest) > 0 {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return time.Time{}, false
		}
		f, ok := num(20, len(rest)-1)
		if !ok {
			return time.Time{}, false
		}
		for i := len(rest) - 1; i < 9; i++ {
			f *= 10
		}
		ns = f
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if t.Day() != d { // February 30th and the like
		return time.Time{}, false
	}
	return t, true
}

// plainMeta is the metadata of events decoded without metadata of their
// own: source_type "kafka" and the aggregator's host.
func plainMeta(source, host string) *event.Meta {
	fs := []event.Field{{Key: "source_type", Value: event.StringValue(SourceType)}}
	if host != "" {
		fs = append(fs, event.Field{Key: "host", Value: event.StringValue(host)})
	}
	return event.NewMeta(source, event.NewFields(fs...))
}
