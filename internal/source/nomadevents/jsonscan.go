package nomadevents

import (
	"encoding/json"
	"errors"
	"fmt"
)

// maxDepth bounds the nesting of JSON values. Nomad's payloads nest about ten
// levels deep; the bound keeps hostile input from exhausting the stack.
const maxDepth = 256

// errDepth reports input nested deeper than maxDepth.
var errDepth = errors.New("JSON nested too deeply")

// SyntaxError reports invalid JSON at a byte offset of the line.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// ShapeError reports valid JSON that is not what the stream sends (a frame
// that is not an object, an index that is not an unsigned integer, ...).
type ShapeError struct {
	Offset int
	Msg    string
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("unexpected JSON at byte %d: %s", e.Offset, e.Msg)
}

// scanner walks JSON text without building values. Everything it steps over
// is validated against the JSON grammar (RFC 8259), so a byte range it
// accepted can be passed on as raw JSON. It does not check UTF-8: encoders
// downstream replace invalid sequences.
type scanner struct {
	data  []byte
	pos   int
	depth int
}

func (s *scanner) fail(msg string) error { return &SyntaxError{Offset: s.pos, Msg: msg} }

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it, or 0 at the end.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos == len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// expect consumes the byte c after optional space.
func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		if s.pos == len(s.data) {
			return s.fail(fmt.Sprintf("unexpected end, want %q", c))
		}
		return s.fail(fmt.Sprintf("unexpected %q, want %q", s.data[s.pos], c))
	}
	s.pos++
	return nil
}

// enter opens an object or array: c is '{' or '['.
func (s *scanner) enter(c byte) error {
	if err := s.expect(c); err != nil {
		return err
	}
	s.depth++
	if s.depth > maxDepth {
		return errDepth
	}
	return nil
}

// nextMember steps to the next member of an object opened with enter('{').
// first is true right after the opening brace. It returns the raw key (the
// bytes between the quotes, escapes undecoded) with the scanner placed on
// the member's value, or done=true after consuming the closing brace.
func (s *scanner) nextMember(first bool) (key []byte, done bool, err error) {
	c := s.peek()
	if c == '}' {
		s.pos++
		s.depth--
		return nil, true, nil
	}
	if !first {
		if c != ',' {
			return nil, false, s.fail("want ',' or '}' after an object member")
		}
		s.pos++
	}
	if s.peek() != '"' {
		return nil, false, s.fail("want an object key")
	}
	key, _, err = s.str()
	if err != nil {
		return nil, false, err
	}
	if err := s.expect(':'); err != nil {
		return nil, false, err
	}
	return key, false, nil
}

// nextElement steps to the next element of an array opened with enter('[').
// It returns done=true after consuming the closing bracket.
func (s *scanner) nextElement(first bool) (done bool, err error) {
	c := s.peek()
	if c == ']' {
		s.pos++
		s.depth--
		return true, nil
	}
	if !first {
		if c != ',' {
			return false, s.fail("want ',' or ']' after an array element")
		}
		s.pos++
	}
	return false, nil
}

// str consumes a string and returns its content between the quotes, and
// whether it holds escapes (then the content must be decoded before use).
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	if err := s.expect('"'); err != nil {
		return nil, false, err
	}
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			raw = s.data[start:s.pos]
			s.pos++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			s.pos++
			if s.pos == len(s.data) {
				return nil, false, s.fail("unterminated escape")
			}
			switch s.data[s.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				s.pos++
				for i := 0; i < 4; i++ {
					if s.pos == len(s.data) || !isHex(s.data[s.pos]) {
						return nil, false, s.fail("invalid \\u escape")
					}
					s.pos++
				}
			default:
				return nil, false, s.fail("invalid escape")
			}
		case c < 0x20:
			return nil, false, s.fail("control character in string")
		default:
			s.pos++
		}
	}
	return nil, false, s.fail("unterminated string")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number consumes a number and returns its text.
func (s *scanner) number() ([]byte, error) {
	s.skipSpace()
	start := s.pos
	if s.pos < len(s.data) && s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.data) && s.data[s.pos] == '0':
		s.pos++
	case s.pos < len(s.data) && isDigit(s.data[s.pos]):
		for s.pos < len(s.data) && isDigit(s.data[s.pos]) {
			s.pos++
		}
	default:
		return nil, s.fail("invalid number")
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.pos == len(s.data) || !isDigit(s.data[s.pos]) {
			return nil, s.fail("invalid number: digit expected after '.'")
		}
		for s.pos < len(s.data) && isDigit(s.data[s.pos]) {
			s.pos++
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.pos == len(s.data) || !isDigit(s.data[s.pos]) {
			return nil, s.fail("invalid number: digit expected in exponent")
		}
		for s.pos < len(s.data) && isDigit(s.data[s.pos]) {
			s.pos++
		}
	}
	return s.data[start:s.pos], nil
}

// literal consumes true, false or null.
func (s *scanner) literal(word string) error {
	s.skipSpace()
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.fail("invalid literal")
	}
	s.pos += len(word)
	return nil
}

// skip consumes one value of any type, validating it.
func (s *scanner) skip() error {
	switch c := s.peek(); c {
	case '{':
		if err := s.enter('{'); err != nil {
			return err
		}
		for first := true; ; first = false {
			_, done, err := s.nextMember(first)
			if err != nil {
				return err
			}
			if done {
				return nil
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	case '[':
		if err := s.enter('['); err != nil {
			return err
		}
		for first := true; ; first = false {
			done, err := s.nextElement(first)
			if err != nil {
				return err
			}
			if done {
				return nil
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	case '"':
		_, _, err := s.str()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case 0:
		return s.fail("unexpected end, want a value")
	default:
		_, err := s.number()
		return err
	}
}

// shape consumes the value at hand and reports it as unexpected: a
// *ShapeError when the value is valid JSON, else the *SyntaxError.
func (s *scanner) shape(msg string) error {
	start := s.pos
	if err := s.skip(); err != nil {
		return err
	}
	return &ShapeError{Offset: start, Msg: msg}
}

// uint consumes a number that must be a non-negative integer fitting in
// uint64.
func (s *scanner) uint() (uint64, error) {
	if c := s.peek(); c != '-' && !isDigit(c) {
		return 0, s.shape("want a non-negative integer")
	}
	start := s.pos
	txt, err := s.number()
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range txt {
		if !isDigit(c) {
			return 0, &ShapeError{Offset: start, Msg: "want a non-negative integer"}
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, &ShapeError{Offset: start, Msg: "integer out of range"}
		}
		n = n*10 + d
	}
	return n, nil
}

// int consumes a number and reports whether it is an integer fitting in
// int64; a number that is not is still consumed (and valid).
func (s *scanner) int() (int64, bool, error) {
	txt, err := s.number()
	if err != nil {
		return 0, false, err
	}
	neg := false
	if txt[0] == '-' {
		neg, txt = true, txt[1:]
	}
	var n uint64
	for _, c := range txt {
		if !isDigit(c) {
			return 0, false, nil
		}
		if n > (1<<63)/10 {
			return 0, false, nil
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<63 {
			return 0, false, nil
		}
	}
	if neg {
		return -int64(n), true, nil
	}
	if n > 1<<63-1 {
		return 0, false, nil
	}
	return int64(n), true, nil
}

// unescape decodes the content of a JSON string that holds escapes.
func unescape(raw []byte) ([]byte, error) {
	q := make([]byte, 0, len(raw)+2)
	q = append(q, '"')
	q = append(q, raw...)
	q = append(q, '"')
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return nil, fmt.Errorf("decoding string: %w", err)
	}
	return []byte(s), nil
}
