package chaos

import (
	"strconv"
	"unicode/utf8"
)

// Every line a writer produces is
//
//	#<stream>.<seq>#<payload>\n
//
// where stream is the writer's index and seq the line's number in its
// stream, from 0. The payload is a pure function of the run's seed, stream
// and seq, so the checker recomputes any line instead of storing it. It
// never holds '\n' or '#', and often holds what log shippers get wrong:
// quotes and backslashes, control characters and NUL, invalid UTF-8,
// multi-byte characters, a '\r' before the '\n', and lines longer than
// maxLineBytes.

// maxLineBytes is the sources' max_line_bytes in every configuration the
// harness writes.
const maxLineBytes = 4096

// mix is splitmix64's finaliser: a well-spread hash of x.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// lineRand is a deterministic byte source for one line.
type lineRand struct{ s uint64 }

func (r *lineRand) next() uint64 {
	r.s = mix(r.s)
	return r.s
}

func (r *lineRand) intn(n int) int { return int(r.next() % uint64(n)) }

// Payload alphabets. None holds '\n' or '#'.
var (
	plain   = []byte("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,:;=-_/()[]{}<>&'\"\\")
	unicode = []string{"é", "ß", "漢字", "😀", "\u2028", "\u2029", "\ufffd", "Ω", "\u00a0"}
	control = []byte{0, 1, 7, 8, '\t', '\v', '\f', 0x1b, 0x7f}
	invalid = [][]byte{{0xff}, {0xfe}, {0xc3}, {0x80}, {0xed, 0xa0, 0x80}, {0xf4, 0x90, 0x80, 0x80}, {0xe2, 0x82}}
)

// appendLine appends line seq of stream (with its '\n') to dst.
func appendLine(dst []byte, seed uint64, stream, seq int) []byte {
	r := lineRand{s: seed ^ uint64(stream)<<40 ^ uint64(seq)*0x9e3779b97f4a7c15}
	dst = append(dst, '#')
	dst = strconv.AppendInt(dst, int64(stream), 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, '#')
	kind := r.intn(1000)
	switch {
	case kind < 8: // longer than max_line_bytes: truncated
		n := maxLineBytes + r.intn(3*maxLineBytes)
		for i := 0; i < n; i++ {
			dst = append(dst, plain[r.intn(len(plain))])
		}
	case kind < 30:
		for i, n := 0, 5+r.intn(40); i < n; i++ {
			if r.intn(4) == 0 {
				dst = append(dst, invalid[r.intn(len(invalid))]...)
			} else {
				dst = append(dst, plain[r.intn(len(plain))])
			}
		}
	case kind < 50:
		for i, n := 0, 5+r.intn(30); i < n; i++ {
			dst = append(dst, unicode[r.intn(len(unicode))]...)
		}
	case kind < 70:
		for i, n := 0, 5+r.intn(30); i < n; i++ {
			dst = append(dst, control[r.intn(len(control))], plain[r.intn(len(plain))])
		}
	case kind < 90: // CRLF: the '\r' is not part of the message
		for i, n := 0, r.intn(60); i < n; i++ {
			dst = append(dst, plain[r.intn(len(plain))])
		}
		dst = append(dst, '\r')
	case kind < 100: // nothing after the id
	default:
		for i, n := 0, 10+r.intn(110); i < n; i++ {
			dst = append(dst, plain[r.intn(len(plain))])
		}
	}
	return append(dst, '\n')
}

// expected is what a line (or the rest of a line, see fragments) must
// arrive as, by drover's documented rules for line-based sources: the
// terminating '\n' and one '\r' before it are not part of the message; a
// message longer than max_line_bytes keeps its first max_line_bytes bytes
// and is flagged truncated; JSON output turns every byte of invalid UTF-8
// into U+FFFD (as encoding/json does).
type expected struct {
	message   string
	truncated bool
}

// expect applies those rules to raw, the bytes of one line without its
// '\n'.
func expect(raw []byte) expected {
	if n := len(raw); n > 0 && raw[n-1] == '\r' {
		raw = raw[:n-1]
	}
	var e expected
	if len(raw) > maxLineBytes {
		raw, e.truncated = raw[:maxLineBytes], true
	}
	if utf8.Valid(raw) {
		e.message = string(raw)
		return e
	}
	out := make([]byte, 0, len(raw)+8)
	for len(raw) > 0 {
		r, size := utf8.DecodeRune(raw)
		out = utf8.AppendRune(out, r)
		raw = raw[size:]
	}
	e.message = string(out)
	return e
}

// parseID reads "#<stream>.<seq>#" at the start of a message. ok is false
// for anything else, such as the rest of a line whose head was in another
// file.
func parseID(msg string) (stream, seq int, ok bool) {
	if len(msg) < 5 || msg[0] != '#' {
		return 0, 0, false
	}
	i := 1
	num := func() (int, bool) {
		start, v := i, 0
		for i < len(msg) && msg[i] >= '0' && msg[i] <= '9' && i-start < 10 {
			v = v*10 + int(msg[i]-'0')
			i++
		}
		return v, i > start
	}
	stream, ok1 := num()
	if !ok1 || i >= len(msg) || msg[i] != '.' {
		return 0, 0, false
	}
	i++
	seq, ok2 := num()
	if !ok2 || i >= len(msg) || msg[i] != '#' {
		return 0, 0, false
	}
	return stream, seq, true
}
