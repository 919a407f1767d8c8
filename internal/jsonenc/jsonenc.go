// Package jsonenc appends JSON text to byte slices without reflection and
// without allocating, for drover's hot path. It escapes strings the way
// encoding/json does, except that it leaves '<', '>' and '&' alone: invalid
// UTF-8 becomes U+FFFD, control characters are escaped, and U+2028/U+2029
// are escaped so the output is safe inside JavaScript too.
package jsonenc

import (
	"encoding/binary"
	"math/bits"
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

// Word-at-a-time constants: a byte of a 64-bit word needs attention when it
// is a control character, '"', '\\' or not ASCII.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// attention returns a mask with the high bit set in the bytes of the
// little-endian word v that need attention. Bits above the lowest set one
// may be false (a borrow carries into the next byte), but the lowest set
// bit is always exact: it marks the first such byte.
func attention(v uint64) uint64 {
	control := (v - 0x20*lsb) & ^v & msb // some byte < 0x20
	q := v ^ '"'*lsb
	quote := (q - lsb) & ^q & msb
	b := v ^ '\\'*lsb
	backslash := (b - lsb) & ^b & msb
	return (v & msb) | control | quote | backslash
}

// word loads the 8 bytes at s[i:] as a little-endian word.
func word(s string, i int) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
}

// appendEscaped copies runs of bytes that need no escaping in one append
// each. It looks at 8 bytes at a time and jumps straight to the first one
// that needs attention, so that text with many quotes (JSON log lines)
// costs little more than plain text.
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			m := attention(word(s, i))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else if c := s[i]; c < utf8.RuneSelf && safe[c] {
			i++
			continue
		}
		// s[i] is a control character, '"', '\\', or not ASCII.
		if c := s[i]; c < utf8.RuneSelf {
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

// AppendTime appends t as a quoted RFC 3339 timestamp in UTC, exactly as
// t.UTC().Format(time.RFC3339Nano) writes it (fractional seconds without
// trailing zeros).
func AppendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = AppendTimeText(dst, t)
	return append(dst, '"')
}

// AppendTimeText appends t like AppendTime, without quotes.
func AppendTimeText(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec < 0 || sec >= maxFastUnix {
		return t.UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	y, m, d := civil(sec / 86400)
	rem := sec % 86400
	hh, mm, ss := rem/3600, rem%3600/60, rem%60
	var b [30]byte
	b[0] = byte('0' + y/1000)
	b[1] = byte('0' + y/100%10)
	b[2] = byte('0' + y/10%10)
	b[3] = byte('0' + y%10)
	b[4] = '-'
	b[5] = byte('0' + m/10)
	b[6] = byte('0' + m%10)
	b[7] = '-'
	b[8] = byte('0' + d/10)
	b[9] = byte('0' + d%10)
	b[10] = 'T'
	b[11] = byte('0' + hh/10)
	b[12] = byte('0' + hh%10)
	b[13] = ':'
	b[14] = byte('0' + mm/10)
	b[15] = byte('0' + mm%10)
	b[16] = ':'
	b[17] = byte('0' + ss/10)
	b[18] = byte('0' + ss%10)
	n := 19
	if ns := t.Nanosecond(); ns != 0 {
		b[19] = '.'
		for i := 28; i >= 20; i-- {
			b[i] = byte('0' + ns%10)
			ns /= 10
		}
		n = 29
		for b[n-1] == '0' {
			n--
		}
	}
	b[n] = 'Z'
	return append(dst, b[:n+1]...)
}

// maxFastUnix is the first second of year 10000; later times (and times
// before 1970) take the standard library's path.
const maxFastUnix = 253402300800

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil inverse).
func civil(days int64) (year, month, day int64) {
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	year = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	if month > 12 {
		month -= 12
	}
	if month <= 2 {
		year++
	}
	return year, month, day
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
