// Package jsondec decodes JSON objects into event.Fields without
// reflection, for the parse transform and the docker json-file decoder.
//
// A Decoder allocates in bulk: the fields of many objects share chunks it
// allocates, strings without escapes point into the input (which must stay
// unchanged while the fields live: an event's message does), and only
// strings with escapes are copied, into a shared buffer. Objects nest up to
// MaxDepth; arrays, and objects nested deeper, are kept as raw JSON. Keys
// are unique: a later duplicate replaces the earlier value, as in most
// decoders.
package jsondec

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/drover-dev/drover/internal/event"
)

// MaxDepth is the deepest nesting decoded into fields; deeper objects and
// every array are kept as raw JSON.
const MaxDepth = 16

// SyntaxError says what is wrong with the input and where.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

// Decoder decodes objects. Its zero value is ready; it is not safe for
// concurrent use. Fields it returned stay valid after later calls.
type Decoder struct {
	arena event.FieldArena
	strs  []byte
	src   []byte
	pos   int

	// take is the top-level key that ObjectTaking sets aside; taken and
	// found what it found.
	take      string
	taking    bool
	taken     event.Value
	foundTake bool
}

// Object decodes src, a JSON object with optional white space around it.
func (d *Decoder) Object(src []byte) (*event.Fields, error) {
	d.taking = false
	return d.decode(src)
}

// ObjectTaking decodes src as Object does, but sets the top-level member
// key aside: the fields do not hold it, and v is its value (found says
// whether the object had it; the last one counts when it had it twice).
// This is how a parser makes one member the event's message without
// copying the others.
func (d *Decoder) ObjectTaking(src []byte, key string) (f *event.Fields, v event.Value, found bool, err error) {
	d.take, d.taking, d.taken, d.foundTake = key, true, event.Value{}, false
	f, err = d.decode(src)
	d.taking = false
	if err != nil {
		return nil, event.Value{}, false, err
	}
	return f, d.taken, d.foundTake, nil
}

func (d *Decoder) decode(src []byte) (*event.Fields, error) {
	d.src, d.pos = src, 0
	d.skipSpace()
	if d.pos >= len(src) || src[d.pos] != '{' {
		return nil, d.errorf("not a JSON object")
	}
	f, err := d.object(0)
	if err != nil {
		d.arena.AbortAll()
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(src) {
		return nil, d.errorf("data after the object")
	}
	return f, nil
}

func (d *Decoder) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: d.pos, Msg: fmt.Sprintf(format, args...)}
}

func (d *Decoder) skipSpace() {
	for d.pos < len(d.src) {
		switch d.src[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// object decodes the object at d.pos ('{').
func (d *Decoder) object(depth int) (*event.Fields, error) {
	d.pos++ // '{'
	base := d.arena.Mark()
	var index map[string]int // for objects with many keys
	d.skipSpace()
	if d.pos < len(d.src) && d.src[d.pos] == '}' {
		d.pos++
		return d.arena.Finish(base), nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.src) || d.src[d.pos] != '"' {
			return nil, d.errorf("expected a key")
		}
		key, err := d.string()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos >= len(d.src) || d.src[d.pos] != ':' {
			return nil, d.errorf("expected ':'")
		}
		d.pos++
		d.skipSpace()
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		if depth == 0 && d.taking && key == d.take {
			d.taken, d.foundTake = v, true
		} else {
			d.member(base, &index, key, v)
		}
		d.skipSpace()
		if d.pos >= len(d.src) {
			return nil, d.errorf("unterminated object")
		}
		switch d.src[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return d.arena.Finish(base), nil
		default:
			return nil, d.errorf("expected ',' or '}'")
		}
	}
}

// member adds key: v to the object started at base.
func (d *Decoder) member(base int, index *map[string]int, key string, v event.Value) {
	// Keys are unique: a duplicate replaces the earlier value. Objects
	// with many keys get an index, so that a line of thousands of
	// keys costs no quadratic time.
	pending := d.arena.Pending(base)
	switch {
	case *index != nil:
		if i, ok := (*index)[key]; ok {
			pending[i].Value = v
		} else {
			(*index)[key] = len(pending)
			d.arena.Push(event.Field{Key: key, Value: v})
		}
	case len(pending) < 32:
		d.arena.Set(base, key, v)
	default:
		*index = make(map[string]int, 64)
		for i, f := range pending {
			(*index)[f.Key] = i
		}
		if i, ok := (*index)[key]; ok {
			pending[i].Value = v
		} else {
			(*index)[key] = len(pending)
			d.arena.Push(event.Field{Key: key, Value: v})
		}
	}
}

func (d *Decoder) value(depth int) (event.Value, error) {
	if d.pos >= len(d.src) {
		return event.Value{}, d.errorf("expected a value")
	}
	switch c := d.src[d.pos]; {
	case c == '"':
		s, err := d.string()
		return event.StringValue(s), err
	case c == '{':
		if depth+1 >= MaxDepth {
			return d.raw()
		}
		f, err := d.object(depth + 1)
		if err != nil {
			return event.Value{}, err
		}
		return event.ObjectValue(f), nil
	case c == '[':
		return d.raw()
	case c == 't':
		return event.BoolValue(true), d.literal("true")
	case c == 'f':
		return event.BoolValue(false), d.literal("false")
	case c == 'n':
		return event.Value{}, d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return event.Value{}, d.errorf("unexpected character %q", d.src[d.pos])
}

func (d *Decoder) literal(word string) error {
	if len(d.src)-d.pos < len(word) || string(d.src[d.pos:d.pos+len(word)]) != word {
		return d.errorf("invalid literal")
	}
	d.pos += len(word)
	return nil
}

func (d *Decoder) number() (event.Value, error) {
	start := d.pos
	if d.src[d.pos] == '-' {
		d.pos++
	}
	digits := func() int {
		n := 0
		for d.pos < len(d.src) && d.src[d.pos] >= '0' && d.src[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	intStart := d.pos
	if digits() == 0 {
		return event.Value{}, d.errorf("invalid number")
	}
	if d.src[intStart] == '0' && d.pos-intStart > 1 {
		return event.Value{}, d.errorf("invalid number: leading zero")
	}
	isInt := true
	if d.pos < len(d.src) && d.src[d.pos] == '.' {
		isInt = false
		d.pos++
		if digits() == 0 {
			return event.Value{}, d.errorf("invalid number")
		}
	}
	if d.pos < len(d.src) && (d.src[d.pos] == 'e' || d.src[d.pos] == 'E') {
		isInt = false
		d.pos++
		if d.pos < len(d.src) && (d.src[d.pos] == '+' || d.src[d.pos] == '-') {
			d.pos++
		}
		if digits() == 0 {
			return event.Value{}, d.errorf("invalid number")
		}
	}
	text := d.src[start:d.pos]
	if isInt && d.pos-intStart <= 18 {
		// Fits in an int64: no need for strconv.
		var n int64
		for _, c := range d.src[intStart:d.pos] {
			n = n*10 + int64(c-'0')
		}
		if start != intStart {
			n = -n
		}
		return event.IntValue(n), nil
	}
	s := unsafe.String(unsafe.SliceData(text), len(text))
	if isInt {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return event.IntValue(i), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// Out of range: kept as written.
		return event.RawJSONValue(text), nil
	}
	return event.FloatValue(f), nil
}

// raw skips the array or object at d.pos, checking it, and returns it as
// raw JSON.
func (d *Decoder) raw() (event.Value, error) {
	start := d.pos
	if err := d.skipValue(0); err != nil {
		return event.Value{}, err
	}
	text := d.src[start:d.pos]
	if !utf8.Valid(text) {
		// Raw JSON is written as it is: keep invalid UTF-8 out of it, each
		// invalid byte replaced by U+FFFD as encoding/json reads it.
		text = replaceInvalidUTF8(text)
	}
	return event.RawJSONValue(text), nil
}

// replaceInvalidUTF8 returns a copy of b with every byte that is not part
// of a valid UTF-8 sequence replaced by U+FFFD.
func replaceInvalidUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}

const maxSkipDepth = 1000

func (d *Decoder) skipValue(depth int) error {
	if depth > maxSkipDepth {
		return d.errorf("nested too deeply")
	}
	if d.pos >= len(d.src) {
		return d.errorf("expected a value")
	}
	switch c := d.src[d.pos]; {
	case c == '"':
		_, err := d.string()
		return err
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.pos++
		d.skipSpace()
		if d.pos < len(d.src) && d.src[d.pos] == end {
			d.pos++
			return nil
		}
		for {
			d.skipSpace()
			if c == '{' {
				if d.pos >= len(d.src) || d.src[d.pos] != '"' {
					return d.errorf("expected a key")
				}
				if _, err := d.string(); err != nil {
					return err
				}
				d.skipSpace()
				if d.pos >= len(d.src) || d.src[d.pos] != ':' {
					return d.errorf("expected ':'")
				}
				d.pos++
				d.skipSpace()
			}
			if err := d.skipValue(depth + 1); err != nil {
				return err
			}
			d.skipSpace()
			if d.pos >= len(d.src) {
				return d.errorf("unterminated value")
			}
			if d.src[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.src[d.pos] == end {
				d.pos++
				return nil
			}
			return d.errorf("expected ',' or %q", end)
		}
	}
	_, err := d.value(MaxDepth)
	return err
}

// string decodes the string at d.pos ('"'). Without escapes the result
// points into the input.
func (d *Decoder) string() (string, error) {
	d.pos++
	start := d.pos
	d.pos = plainRun(d.src, d.pos)
	if d.pos >= len(d.src) {
		return "", d.errorf("unterminated string")
	}
	switch d.src[d.pos] {
	case '"':
		s := d.src[start:d.pos]
		d.pos++
		return unsafe.String(unsafe.SliceData(s), len(s)), nil
	case '\\':
		return d.escapedString(start)
	}
	return "", d.errorf("control character in string")
}

// Word-at-a-time constants.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plainRun returns the index of the first byte at or after i that ends a
// run of a string's plain bytes: a quote, a backslash or a control
// character; len(src) if none does. It looks at 8 bytes at a time (the
// mask's lowest set bit marks the first such byte exactly; higher ones
// may be wrong).
func plainRun(src []byte, i int) int {
	for ; i+8 <= len(src); i += 8 {
		v := binary.LittleEndian.Uint64(src[i:])
		control := (v - 0x20*lsb) &^ v & msb
		q := v ^ '"'*lsb
		b := v ^ '\\'*lsb
		if m := control | (q-lsb)&^q&msb | (b-lsb)&^b&msb; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(src); i++ {
		if c := src[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

func (d *Decoder) escapedString(start int) (string, error) {
	// The unescaped string is at most as long as the rest of the input.
	if need := len(d.src) - start; cap(d.strs)-len(d.strs) < need {
		d.strs = make([]byte, 0, max(4096, 2*need))
	}
	from := len(d.strs)
	d.strs = append(d.strs, d.src[start:d.pos]...)
	for d.pos < len(d.src) {
		// Copy the run up to the next quote, backslash or control byte.
		run := plainRun(d.src, d.pos)
		d.strs = append(d.strs, d.src[d.pos:run]...)
		d.pos = run
		if d.pos >= len(d.src) {
			break
		}
		c := d.src[d.pos]
		switch {
		case c == '"':
			d.pos++
			s := d.strs[from:len(d.strs):len(d.strs)]
			return unsafe.String(unsafe.SliceData(s), len(s)), nil
		case c < 0x20:
			return "", d.errorf("control character in string")
		}
		if d.pos+1 >= len(d.src) {
			return "", d.errorf("unterminated escape")
		}
		e := d.src[d.pos+1]
		d.pos += 2
		switch e {
		case '"', '\\', '/':
			d.strs = append(d.strs, e)
		case 'b':
			d.strs = append(d.strs, '\b')
		case 'f':
			d.strs = append(d.strs, '\f')
		case 'n':
			d.strs = append(d.strs, '\n')
		case 'r':
			d.strs = append(d.strs, '\r')
		case 't':
			d.strs = append(d.strs, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", d.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if d.pos+1 < len(d.src) && d.src[d.pos] == '\\' && d.src[d.pos+1] == 'u' {
					save := d.pos
					d.pos += 2
					if lo, ok := d.hex4(); ok {
						if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
							r2 = dec
						} else {
							d.pos = save
						}
					} else {
						return "", d.errorf("invalid \\u escape")
					}
				}
				r = r2
			}
			d.strs = utf8.AppendRune(d.strs, r)
		default:
			return "", d.errorf("invalid escape \\%c", e)
		}
	}
	return "", d.errorf("unterminated string")
}

func (d *Decoder) hex4() (rune, bool) {
	if len(d.src)-d.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.src[d.pos : d.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	d.pos += 4
	return r, true
}
