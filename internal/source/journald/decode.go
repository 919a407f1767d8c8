package journald

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// rawEntry is one journal entry as journalctl --output=json prints it: a
// JSON object whose keys are field names and whose values are
//
//   - a string (a field with one UTF-8 value);
//   - an array of numbers 0-255 (one binary value: bytes that are not valid
//     UTF-8 or hold control characters);
//   - an array of strings and number arrays (a field with several values);
//   - null (a value too large to show; the source passes --all, so only
//     journalctls that ignore it print null).
//
// decodeEntry fills a rawEntry in place: keys and values are unescaped or
// decoded into buf and referenced by offsets, so that decoding a line does
// not allocate once the buffers have grown.
type rawEntry struct {
	buf    []byte
	fields []rawField
	vals   []span
}

// rawField is one field: its name and vals[first:first+n].
type rawField struct {
	key   span
	first int
	n     int
	// multi: the value was an array of values (the field occurs several
	// times in the entry).
	multi bool
}

// span is buf[start:end].
type span struct{ start, end int }

// key returns the name of f. It aliases e.buf.
func (e *rawEntry) key(f *rawField) []byte { return e.buf[f.key.start:f.key.end] }

// value returns the i-th value of f. It aliases e.buf.
func (e *rawEntry) value(f *rawField, i int) []byte {
	s := e.vals[f.first+i]
	return e.buf[s.start:s.end]
}

// lookup returns the first value of the field named name.
func (e *rawEntry) lookup(name string) ([]byte, bool) {
	for i := range e.fields {
		f := &e.fields[i]
		if f.n > 0 && string(e.key(f)) == name {
			return e.value(f, 0), true
		}
	}
	return nil, false
}

func (e *rawEntry) reset() {
	e.buf, e.fields, e.vals = e.buf[:0], e.fields[:0], e.vals[:0]
}

// errSyntax wraps every decoding error.
var errSyntax = errors.New("not a journal entry in journalctl's JSON format")

// decoder is the state of decoding one line.
type decoder struct {
	in  []byte
	pos int
	e   *rawEntry
}

// decodeEntry decodes one line of journalctl --output=json into e, which is
// reset first. Surrounding white space (the line terminator) is ignored.
func decodeEntry(line []byte, e *rawEntry) error {
	e.reset()
	d := decoder{in: line, e: e}
	if err := d.object(); err != nil {
		return fmt.Errorf("%w: %v at byte %d", errSyntax, err, d.pos)
	}
	return nil
}

func (d *decoder) ws() {
	for d.pos < len(d.in) {
		switch d.in[d.pos] {
		case ' ', '\t', '\r', '\n':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.pos < len(d.in) {
		return d.in[d.pos]
	}
	return 0
}

func (d *decoder) expect(c byte) error {
	if d.peek() != c {
		return d.unexpected(fmt.Sprintf("%q", c))
	}
	d.pos++
	return nil
}

func (d *decoder) unexpected(want string) error {
	if d.pos >= len(d.in) {
		return fmt.Errorf("unexpected end, want %s", want)
	}
	return fmt.Errorf("unexpected %q, want %s", d.in[d.pos], want)
}

func (d *decoder) object() error {
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.pos++
		return d.end()
	}
	for {
		if d.peek() != '"' {
			return d.unexpected("a field name")
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		if key.start == key.end {
			return errors.New("empty field name")
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		f := rawField{key: key, first: len(d.e.vals)}
		if err := d.value(&f); err != nil {
			return err
		}
		d.e.fields = append(d.e.fields, f)
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return d.end()
		default:
			return d.unexpected(`"," or "}"`)
		}
	}
}

// end checks that only white space follows the object.
func (d *decoder) end() error {
	d.ws()
	if d.pos != len(d.in) {
		return errors.New("data after the entry")
	}
	return nil
}

// value decodes a field's value into f.
func (d *decoder) value(f *rawField) error {
	switch d.peek() {
	case '"':
		s, err := d.str()
		if err != nil {
			return err
		}
		d.e.vals = append(d.e.vals, s)
		f.n = 1
		return nil
	case 'n':
		if len(d.in)-d.pos >= 4 && string(d.in[d.pos:d.pos+4]) == "null" {
			d.pos += 4
			return nil
		}
	case '[':
		return d.array(f)
	}
	return d.unexpected("a string, an array or null")
}

// array decodes a binary value (numbers) or a list of values (strings and
// binary values).
func (d *decoder) array(f *rawField) error {
	d.pos++ // [
	c := d.peek()
	if c == ']' {
		d.pos++
		f.multi = true
		return nil
	}
	if c >= '0' && c <= '9' {
		s, err := d.binary()
		if err != nil {
			return err
		}
		d.e.vals = append(d.e.vals, s)
		f.n = 1
		return nil
	}
	f.multi = true
	for {
		var (
			s   span
			err error
		)
		switch d.peek() {
		case '"':
			s, err = d.str()
		case '[':
			d.pos++
			s, err = d.binary()
		default:
			return d.unexpected("a string or an array of bytes")
		}
		if err != nil {
			return err
		}
		d.e.vals = append(d.e.vals, s)
		f.n++
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return nil
		default:
			return d.unexpected(`"," or "]"`)
		}
	}
}

// binary decodes the numbers of a byte array up to and including its "]";
// the "[" is consumed.
func (d *decoder) binary() (span, error) {
	start := len(d.e.buf)
	if d.peek() == ']' {
		d.pos++
		return span{start, start}, nil
	}
	for {
		d.ws()
		n, digits := 0, 0
		for d.pos < len(d.in) && d.in[d.pos] >= '0' && d.in[d.pos] <= '9' {
			n = n*10 + int(d.in[d.pos]-'0')
			d.pos++
			digits++
			if n > 255 {
				return span{}, errors.New("byte value above 255")
			}
		}
		if digits == 0 {
			return span{}, d.unexpected("a byte value")
		}
		d.e.buf = append(d.e.buf, byte(n))
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return span{start, len(d.e.buf)}, nil
		default:
			return span{}, d.unexpected(`"," or "]"`)
		}
	}
}

// str decodes a JSON string at d.pos (its opening quote) into buf.
// Control characters and invalid UTF-8 are taken as they are: the encoders
// of the sinks escape or replace them.
func (d *decoder) str() (span, error) {
	d.pos++ // "
	start := len(d.e.buf)
	for {
		// Copy the run of plain bytes at once.
		i := d.pos
		for i < len(d.in) && d.in[i] != '"' && d.in[i] != '\\' {
			i++
		}
		d.e.buf = append(d.e.buf, d.in[d.pos:i]...)
		d.pos = i
		if d.pos >= len(d.in) {
			return span{}, errors.New("unterminated string")
		}
		if d.in[d.pos] == '"' {
			d.pos++
			return span{start, len(d.e.buf)}, nil
		}
		if err := d.escape(); err != nil {
			return span{}, err
		}
	}
}

// escape decodes one escape sequence at d.pos (its backslash).
func (d *decoder) escape() error {
	if d.pos+1 >= len(d.in) {
		return errors.New("unterminated escape")
	}
	c := d.in[d.pos+1]
	d.pos += 2
	switch c {
	case '"', '\\', '/':
		d.e.buf = append(d.e.buf, c)
	case 'b':
		d.e.buf = append(d.e.buf, '\b')
	case 'f':
		d.e.buf = append(d.e.buf, '\f')
	case 'n':
		d.e.buf = append(d.e.buf, '\n')
	case 'r':
		d.e.buf = append(d.e.buf, '\r')
	case 't':
		d.e.buf = append(d.e.buf, '\t')
	case 'u':
		r, ok := d.hex4()
		if !ok {
			return errors.New(`invalid \u escape`)
		}
		if utf16.IsSurrogate(r) && len(d.in)-d.pos >= 6 && d.in[d.pos] == '\\' && d.in[d.pos+1] == 'u' {
			// A surrogate pair; a lone surrogate becomes U+FFFD below, and
			// what follows it is decoded on its own.
			save := d.pos
			d.pos += 2
			if r2, ok := d.hex4(); ok {
				if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
					r = pair
				} else {
					d.pos = save
				}
			} else {
				d.pos = save
			}
		}
		d.e.buf = utf8.AppendRune(d.e.buf, r)
	default:
		return fmt.Errorf(`invalid escape \%c`, c)
	}
	return nil
}

// hex4 decodes the four hex digits at d.pos.
func (d *decoder) hex4() (rune, bool) {
	if len(d.in)-d.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.in[d.pos : d.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	d.pos += 4
	return r, true
}
