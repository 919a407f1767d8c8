// Package jsonscan walks JSON text without building values and without
// reflection, for decoders of outside input on the hot path: it steps over
// objects, arrays and values, validating them against the JSON grammar (RFC
// 8259), and hands out the raw bytes of keys, strings and numbers, which
// point into the input. AppendUnescaped decodes a string's escapes into a
// caller-owned buffer. It does not check UTF-8: drover's encoders replace
// invalid sequences.
package jsonscan

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of objects and arrays, so that hostile input
// cannot exhaust the stack.
const MaxDepth = 256

// ErrDepth reports input nested deeper than MaxDepth.
var ErrDepth = errors.New("JSON nested too deeply")

// SyntaxError reports invalid JSON at a byte offset of the input.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// Scanner walks one JSON text. The zero Scanner with Data set starts at the
// beginning. Everything it stepped over is valid JSON, so a byte range it
// accepted can be passed on as raw JSON.
type Scanner struct {
	Data  []byte
	Pos   int
	depth int
}

// New returns a scanner at the start of data.
func New(data []byte) Scanner { return Scanner{Data: data} }

func (s *Scanner) fail(msg string) error { return &SyntaxError{Offset: s.Pos, Msg: msg} }

// SkipSpace steps over white space.
func (s *Scanner) SkipSpace() {
	for s.Pos < len(s.Data) {
		switch s.Data[s.Pos] {
		case ' ', '\t', '\n', '\r':
			s.Pos++
		default:
			return
		}
	}
}

// Peek returns the next non-space byte without consuming it, or 0 at the end.
func (s *Scanner) Peek() byte {
	s.SkipSpace()
	if s.Pos == len(s.Data) {
		return 0
	}
	return s.Data[s.Pos]
}

// AtEnd reports whether only white space is left.
func (s *Scanner) AtEnd() bool { return s.Peek() == 0 && s.Pos == len(s.Data) }

// Expect consumes the byte c after optional space.
func (s *Scanner) Expect(c byte) error {
	if s.Peek() != c {
		if s.Pos == len(s.Data) {
			return s.fail(fmt.Sprintf("unexpected end, want %q", c))
		}
		return s.fail(fmt.Sprintf("unexpected %q, want %q", s.Data[s.Pos], c))
	}
	s.Pos++
	return nil
}

// Enter opens an object or array: c is '{' or '['.
func (s *Scanner) Enter(c byte) error {
	if err := s.Expect(c); err != nil {
		return err
	}
	s.depth++
	if s.depth > MaxDepth {
		return ErrDepth
	}
	return nil
}

// NextMember steps to the next member of an object opened with Enter('{').
// first is true right after the opening brace. It returns the raw key (the
// bytes between the quotes) and whether it holds escapes, with the scanner
// placed on the member's value, or done=true after consuming the closing
// brace.
func (s *Scanner) NextMember(first bool) (key []byte, escaped, done bool, err error) {
	c := s.Peek()
	if c == '}' {
		s.Pos++
		s.depth--
		return nil, false, true, nil
	}
	if !first {
		if c != ',' {
			return nil, false, false, s.fail("want ',' or '}' after an object member")
		}
		s.Pos++
	}
	if s.Peek() != '"' {
		return nil, false, false, s.fail("want an object key")
	}
	key, escaped, err = s.Str()
	if err != nil {
		return nil, false, false, err
	}
	if err := s.Expect(':'); err != nil {
		return nil, false, false, err
	}
	return key, escaped, false, nil
}

// NextElement steps to the next element of an array opened with
// Enter('['). It returns done=true after consuming the closing bracket.
func (s *Scanner) NextElement(first bool) (done bool, err error) {
	c := s.Peek()
	if c == ']' {
		s.Pos++
		s.depth--
		return true, nil
	}
	if !first {
		if c != ',' {
			return false, s.fail("want ',' or ']' after an array element")
		}
		s.Pos++
	}
	return false, nil
}

// Str consumes a string and returns its content between the quotes, and
// whether it holds escapes (then decode it with AppendUnescaped).
func (s *Scanner) Str() (raw []byte, escaped bool, err error) {
	if err := s.Expect('"'); err != nil {
		return nil, false, err
	}
	start := s.Pos
	for s.Pos < len(s.Data) {
		c := s.Data[s.Pos]
		switch {
		case c == '"':
			raw = s.Data[start:s.Pos]
			s.Pos++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			s.Pos++
			if s.Pos == len(s.Data) {
				return nil, false, s.fail("unterminated escape")
			}
			switch s.Data[s.Pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.Pos++
			case 'u':
				s.Pos++
				for i := 0; i < 4; i++ {
					if s.Pos == len(s.Data) || !isHex(s.Data[s.Pos]) {
						return nil, false, s.fail("invalid \\u escape")
					}
					s.Pos++
				}
			default:
				return nil, false, s.fail("invalid escape")
			}
		case c < 0x20:
			return nil, false, s.fail("control character in string")
		default:
			s.Pos++
		}
	}
	return nil, false, s.fail("unterminated string")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Number consumes a number and returns its text.
func (s *Scanner) Number() ([]byte, error) {
	s.SkipSpace()
	start := s.Pos
	if s.Pos < len(s.Data) && s.Data[s.Pos] == '-' {
		s.Pos++
	}
	switch {
	case s.Pos < len(s.Data) && s.Data[s.Pos] == '0':
		s.Pos++
	case s.Pos < len(s.Data) && isDigit(s.Data[s.Pos]):
		for s.Pos < len(s.Data) && isDigit(s.Data[s.Pos]) {
			s.Pos++
		}
	default:
		return nil, s.fail("invalid number")
	}
	if s.Pos < len(s.Data) && s.Data[s.Pos] == '.' {
		s.Pos++
		if s.Pos == len(s.Data) || !isDigit(s.Data[s.Pos]) {
			return nil, s.fail("invalid number: digit expected after '.'")
		}
		for s.Pos < len(s.Data) && isDigit(s.Data[s.Pos]) {
			s.Pos++
		}
	}
	if s.Pos < len(s.Data) && (s.Data[s.Pos] == 'e' || s.Data[s.Pos] == 'E') {
		s.Pos++
		if s.Pos < len(s.Data) && (s.Data[s.Pos] == '+' || s.Data[s.Pos] == '-') {
			s.Pos++
		}
		if s.Pos == len(s.Data) || !isDigit(s.Data[s.Pos]) {
			return nil, s.fail("invalid number: digit expected in exponent")
		}
		for s.Pos < len(s.Data) && isDigit(s.Data[s.Pos]) {
			s.Pos++
		}
	}
	return s.Data[start:s.Pos], nil
}

// Literal consumes true, false or null.
func (s *Scanner) Literal(word string) error {
	s.SkipSpace()
	if len(s.Data)-s.Pos < len(word) || string(s.Data[s.Pos:s.Pos+len(word)]) != word {
		return s.fail("invalid literal")
	}
	s.Pos += len(word)
	return nil
}

// Skip consumes one value of any type, validating it.
func (s *Scanner) Skip() error {
	switch c := s.Peek(); c {
	case '{':
		if err := s.Enter('{'); err != nil {
			return err
		}
		for first := true; ; first = false {
			_, _, done, err := s.NextMember(first)
			if err != nil {
				return err
			}
			if done {
				return nil
			}
			if err := s.Skip(); err != nil {
				return err
			}
		}
	case '[':
		if err := s.Enter('['); err != nil {
			return err
		}
		for first := true; ; first = false {
			done, err := s.NextElement(first)
			if err != nil {
				return err
			}
			if done {
				return nil
			}
			if err := s.Skip(); err != nil {
				return err
			}
		}
	case '"':
		_, _, err := s.Str()
		return err
	case 't':
		return s.Literal("true")
	case 'f':
		return s.Literal("false")
	case 'n':
		return s.Literal("null")
	case 0:
		return s.fail("unexpected end, want a value")
	default:
		_, err := s.Number()
		return err
	}
}

// ParseInt returns the value of a number's text when it is an integer in
// canonical form (no fraction, no exponent, no leading zeros, no "-0")
// that fits in int64: exactly the numbers that strconv.AppendInt writes
// back unchanged.
func ParseInt(txt []byte) (int64, bool) {
	neg := false
	if len(txt) > 0 && txt[0] == '-' {
		neg, txt = true, txt[1:]
	}
	if len(txt) == 0 || len(txt) > 19 || (txt[0] == '0' && (len(txt) > 1 || neg)) {
		return 0, false
	}
	var n uint64
	for _, c := range txt {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case neg && n <= 1<<63:
		return -int64(n), true
	case !neg && n <= 1<<63-1:
		return int64(n), true
	}
	return 0, false
}

// AppendUnescaped appends the decoded content of a string that Str
// accepted (raw, between the quotes). Like encoding/json, an invalid or
// unpaired surrogate escape becomes U+FFFD.
func AppendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(raw) {
			return append(dst, '\\') // not produced by Str
		}
		switch e := raw[i+1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw, i+2)
			if !ok {
				return append(dst, raw[i:]...) // not produced by Str
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok := rune(-1), false
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2, ok = hex4(raw, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					dst = utf8.AppendRune(dst, dec)
					i += 6
					continue
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[at : at+4] {
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
	return r, true
}
