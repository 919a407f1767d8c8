// Package jsonenc appends JSON text to byte slices without reflection and
// without allocating, for drover's hot path. It escapes strings the way
// encoding/json does, except that it leaves '<', '>' and '&' alone: invalid
// UTF-8 becomes U+FFFD, control characters are escaped, and U+2028/U+2029
// are escaped so the output is safe inside JavaScript too.
package jsonenc

import (
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

const hex = "0123456789abcdef"

// safe[b] is true for ASCII bytes that need no escaping inside a JSON string.
var safe = func() (t [utf8.RuneSelf]bool) {
	for i := 0x20; i < utf8.RuneSelf; i++ {
		t[i] = i != '"' && i != '\\'
	}
	return t
}()

// AppendString appends s as a quoted JSON string.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// AppendBytes appends b as a quoted JSON string. Invalid UTF-8 is replaced by
// U+FFFD, never passed through.
func AppendBytes(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	// The bytes are only read, never kept: viewing them as a string copies
	// nothing.
	dst = appendEscaped(dst, unsafe.String(unsafe.SliceData(b), len(b)))
	return append(dst, '"')
}

// AppendEscaped appends the escaped contents of s without quotes.
func AppendEscaped(dst []byte, s string) []byte { return appendEscaped(dst, s) }

func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendASCIIEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

func appendASCIIEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
}

// AppendTime appends t as a quoted RFC 3339 timestamp in UTC with nanoseconds.
func AppendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// AppendInt appends i as a JSON number.
func AppendInt(dst []byte, i int64) []byte { return strconv.AppendInt(dst, i, 10) }

// AppendFloat appends f as a JSON number; NaN and infinities, which JSON
// cannot represent, become null.
func AppendFloat(dst []byte, f float64) []byte {
	if f != f || f > 1.7976931348623157e308 || f < -1.7976931348623157e308 {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// AppendBool appends true or false.
func AppendBool(dst []byte, b bool) []byte { return strconv.AppendBool(dst, b) }
