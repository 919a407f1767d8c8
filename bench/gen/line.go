package gen

import (
	"strconv"
	"unicode/utf8"
)

// Format is the shape of a stream's lines.
type Format uint8

// Line formats.
const (
	// Plain lines are logfmt-style text: ts=... sid=... seq=... level=info msg="..." ...
	Plain Format = iota
	// JSON lines are one JSON object: {"ts":...,"sid":...,"seq":...,"level":"info",...}
	JSON
)

// FormatOf returns the format of stream sid: even streams write JSON, odd
// streams plain text.
func FormatOf(sid int) Format {
	if sid%2 == 0 {
		return JSON
	}
	return Plain
}

// Line sizes, without the newline.
const (
	MinLine     = 100
	MaxLine     = 500
	MinLongLine = 1 << 10
	MaxLongLine = 16 << 10
	// LongEvery: one line in LongEvery (on average) is long.
	LongEvery = 200
)

// rng is splitmix64: the content of a line is derived from (sid, seq) alone.
type rng uint64

func newRNG(sid int, seq uint64) rng {
	r := rng(uint64(sid)*0x9e3779b97f4a7c15 ^ seq*0xbf58476d1ce4e5b9)
	r.next()
	return r
}

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// Size returns the length of line seq of stream sid, without its newline.
func Size(sid int, seq uint64) int {
	r := newRNG(sid, seq)
	return size(&r)
}

func size(r *rng) int {
	if r.intn(LongEvery) == 0 {
		return MinLongLine + r.intn(MaxLongLine-MinLongLine+1)
	}
	return MinLine + r.intn(MaxLine-MinLine+1)
}

var (
	levels  = []string{"info", "info", "info", "info", "debug", "warn", "error"}
	methods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	paths   = []string{"/api/v1/orders", "/api/v1/users", "/health", "/api/v2/search", "/static/app.js", "/api/v1/payments"}
	callers = []string{"server.go:212", "handler.go:88", "db/pool.go:341", "cache.go:57", "worker.go:1290"}
	words   = []string{
		"request", "completed", "upstream", "connection", "reset", "by", "peer", "retrying", "in",
		"cache", "miss", "for", "key", "user", "session", "expired", "token", "refreshed",
		"query", "took", "rows", "returned", "payload", "validated", "schema", "v3",
		"café", "Zürich", "naïve", "東京", "—", `"quoted"`, `C:\tmp\x`, "tab\there",
	}
)

const hexDigits = "0123456789abcdef"

// AppendLine appends line seq of stream sid, written at ts (Unix
// nanoseconds), without its newline. Its length is Size(sid, seq); its
// bytes are valid UTF-8, a JSON line is a valid JSON object, and the bytes
// depend on (sid, seq, ts) only.
func AppendLine(dst []byte, sid int, seq uint64, ts int64) []byte {
	r := newRNG(sid, seq)
	n := size(&r)
	end := len(dst) + n
	if FormatOf(sid) == JSON {
		dst = append(dst, `{"ts":`...)
		dst = strconv.AppendInt(dst, ts, 10)
		dst = append(dst, `,"sid":`...)
		dst = strconv.AppendInt(dst, int64(sid), 10)
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, seq, 10)
		dst = appendFields(dst, &r, end-12, true)
		dst = append(dst, `,"msg":"`...)
		return appendWords(dst, &r, end-2, true, `"}`)
	}
	dst = append(dst, "ts="...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, " sid="...)
	dst = strconv.AppendInt(dst, int64(sid), 10)
	dst = append(dst, " seq="...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = appendFields(dst, &r, end-10, false)
	dst = append(dst, " detail="...)
	return appendWords(dst, &r, end, false, "")
}

// appendFields appends the usual fields of a request log, in JSON or
// logfmt, as long as they end at or before limit.
func appendFields(dst []byte, r *rng, limit int, json bool) []byte {
	for k := 0; ; k++ {
		mark := len(dst)
		switch k {
		case 0:
			dst = appendField(dst, json, "level", levels[r.intn(len(levels))], true)
		case 1:
			dst = appendField(dst, json, "caller", callers[r.intn(len(callers))], true)
		case 2:
			dst = appendField(dst, json, "method", methods[r.intn(len(methods))], true)
		case 3:
			dst = appendField(dst, json, "path", paths[r.intn(len(paths))], true)
		case 4:
			dst = appendField(dst, json, "status", strconv.Itoa(200+r.intn(4)*100), false)
		case 5:
			dst = appendField(dst, json, "duration_ms", strconv.Itoa(r.intn(2000)), false)
		case 6:
			var h [32]byte
			dst = appendField(dst, json, "trace_id", string(appendHex(h[:0], r)), true)
		default:
			return dst
		}
		if len(dst) > limit {
			return dst[:mark]
		}
	}
}

func appendField(dst []byte, json bool, key, value string, quoted bool) []byte {
	if json {
		dst = append(dst, ',', '"')
		dst = append(dst, key...)
		dst = append(dst, '"', ':')
	} else {
		dst = append(dst, ' ')
		dst = append(dst, key...)
		dst = append(dst, '=')
	}
	if quoted && json {
		dst = append(dst, '"')
		dst = append(dst, value...)
		return append(dst, '"')
	}
	return append(dst, value...)
}

func appendHex(dst []byte, r *rng) []byte {
	for range 2 {
		v := r.next()
		for range 16 {
			dst = append(dst, hexDigits[v&15])
			v >>= 4
		}
	}
	return dst
}

// appendWords appends words (JSON-escaped when inJSON) until dst reaches
// end, pads or cuts to exactly end (never inside a UTF-8 sequence or an
// escape), then appends closing.
func appendWords(dst []byte, r *rng, end int, inJSON bool, closing string) []byte {
	for len(dst) < end {
		w := words[r.intn(len(words))]
		if inJSON {
			dst = appendJSONEscaped(dst, w)
		} else {
			dst = append(dst, w...)
		}
		dst = append(dst, ' ')
	}
	if len(dst) > end {
		cut := end
		for cut > 0 && !utf8.RuneStart(dst[cut]) {
			cut--
		}
		if inJSON {
			// Do not leave a lone backslash at the end.
			bs := 0
			for i := cut - 1; i >= 0 && dst[i] == '\\'; i-- {
				bs++
			}
			if bs%2 == 1 {
				cut--
			}
		}
		dst = dst[:cut]
		for len(dst) < end {
			dst = append(dst, '.')
		}
	}
	return append(dst, closing...)
}

func appendJSONEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// ParseHeader reads the write time, stream id and sequence number at the
// start of a line: the first three runs of digits of b. It works on a line
// as written and on a line inside a JSON string (quotes escaped). ok is
// false when b does not start with such a header.
func ParseHeader(b []byte) (ts int64, sid int, seq uint64, ok bool) {
	var nums [3]uint64
	i := 0
	for k := range nums {
		for i < len(b) && (b[i] < '0' || b[i] > '9') {
			if i > 16 { // the header's keys and punctuation are short
				return 0, 0, 0, false
			}
			i++
		}
		j := i
		var v uint64
		for j < len(b) && b[j] >= '0' && b[j] <= '9' && j-i < 20 {
			v = v*10 + uint64(b[j]-'0')
			j++
		}
		if j == i {
			return 0, 0, 0, false
		}
		nums[k] = v
		b = b[j:]
		i = 0
	}
	return int64(nums[0]), int(nums[1]), nums[2], true
}
