package elasticsearch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// scanner reads JSON text token by token without allocating, for the bulk
// response. It checks what it reads and skips what it does not need; it is
// not a validator: text that is not JSON may be read without an error.
type scanner struct {
	b []byte
	i int
}

var errEOF = errors.New("unexpected end of JSON input")

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// expect consumes c after white space.
func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.errorf("expected %q", c)
	}
	s.i++
	return nil
}

func (s *scanner) errorf(format string, args ...any) error {
	if s.i >= len(s.b) {
		return errEOF
	}
	return fmt.Errorf("bulk response, offset %d: %s", s.i, fmt.Sprintf(format, args...))
}

// str reads a string and returns it with its quotes, undecoded.
func (s *scanner) str() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.errorf("expected a string")
	}
	start := s.i
	for s.i++; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '\\':
			s.i++
		case c == '"':
			s.i++
			return s.b[start:s.i], nil
		case c < 0x20:
			return nil, s.errorf("control character in a string")
		}
	}
	return nil, errEOF
}

// key reads an object key and the colon after it.
func (s *scanner) key() ([]byte, error) {
	k, err := s.str()
	if err != nil {
		return nil, err
	}
	return k, s.expect(':')
}

// next consumes the ',' between members or elements, or the closing
// bracket; it reports whether another member follows.
func (s *scanner) next(closing byte) (bool, error) {
	switch s.peek() {
	case ',':
		s.i++
		return true, nil
	case closing:
		s.i++
		return false, nil
	}
	return false, s.errorf("expected ',' or %q", closing)
}

// open consumes the opening bracket and reports whether the object or
// array is empty (then its closing bracket is consumed too).
func (s *scanner) open(opening, closing byte) (empty bool, err error) {
	if err := s.expect(opening); err != nil {
		return false, err
	}
	if s.peek() == closing {
		s.i++
		return true, nil
	}
	return false, nil
}

// members reads the object at s, calling member with each key, s at the
// key's value, which member must read.
func (s *scanner) members(member func(key []byte) error) error {
	empty, err := s.open('{', '}')
	if err != nil || empty {
		return err
	}
	for {
		k, err := s.key()
		if err != nil {
			return err
		}
		if err := member(k); err != nil {
			return err
		}
		more, err := s.next('}')
		if err != nil || !more {
			return err
		}
	}
}

// skip consumes one value of any kind.
func (s *scanner) skip() error {
	depth := 0
	for {
		switch c := s.peek(); {
		case c == 0:
			return errEOF
		case c == '{' || c == '[':
			depth++
			s.i++
			continue
		case c == '}' || c == ']':
			if depth == 0 {
				return s.errorf("unexpected %q", c)
			}
			depth--
			s.i++
		case c == ',' || c == ':':
			if depth == 0 {
				return s.errorf("unexpected %q", c)
			}
			s.i++
			continue
		case c == '"':
			if _, err := s.str(); err != nil {
				return err
			}
		default:
			if s.scalar() == 0 {
				return s.errorf("unexpected %q", c)
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// scalar consumes a number or a literal and returns its length.
func (s *scanner) scalar() int {
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'E' {
			s.i++
			continue
		}
		break
	}
	return s.i - start
}

// boolean reads true or false.
func (s *scanner) boolean() (bool, error) {
	s.ws()
	start := s.i
	switch string(s.b[start : start+s.scalar()]) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	s.i = start
	return false, s.errorf("expected true or false")
}

// integer reads an integer; null reads as 0.
func (s *scanner) integer() (int, error) {
	s.ws()
	start := s.i
	tok := s.b[start : start+s.scalar()]
	if string(tok) == "null" {
		return 0, nil
	}
	digits := tok
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	valid := len(digits) > 0 && (digits[0] != '0' || len(digits) == 1)
	for _, c := range digits {
		valid = valid && '0' <= c && c <= '9'
	}
	n, err := strconv.ParseInt(string(tok), 10, 0)
	if !valid || err != nil {
		s.i = start
		return 0, s.errorf("expected an integer")
	}
	return int(n), nil
}

// isKey reports whether the quoted key k is name; a key with escapes,
// which the clusters do not send, is decoded first.
func isKey(k []byte, name string) bool {
	if len(k) == len(name)+2 && string(k[1:len(k)-1]) == name {
		return true
	}
	return bytes.IndexByte(k, '\\') >= 0 && decodeString(k) == name
}

// decodeString decodes a quoted JSON string; each byte of invalid UTF-8
// becomes U+FFFD.
func decodeString(q []byte) string {
	if len(q) < 2 {
		return ""
	}
	inner := q[1 : len(q)-1]
	for _, c := range inner {
		if c == '\\' {
			var out string
			if json.Unmarshal(q, &out) == nil {
				return out
			}
			break
		}
	}
	if utf8.Valid(inner) {
		return string(inner)
	}
	// Like encoding/json: every byte of an invalid sequence becomes U+FFFD.
	return strings.Map(func(r rune) rune { return r }, string(inner))
}
