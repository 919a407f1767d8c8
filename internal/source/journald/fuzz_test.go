package journald

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
)

// FuzzDecodeEntry checks the decoder of journalctl's JSON lines:
//
//   - it never panics, and accepts what encoding/json accepts when the
//     values have the shapes journalctl writes, with the same values;
//   - what it accepts survives a round trip through the byte-array form;
//   - an event built from any accepted entry encodes to valid JSON.
func FuzzDecodeEntry(f *testing.F) {
	for _, s := range []string{
		`{"__CURSOR":"s=a;i=1","__REALTIME_TIMESTAMP":"1700000000000000","MESSAGE":"hello","PRIORITY":"6","_HOSTNAME":"n"}`,
		`{"MESSAGE":[104,105,0,255],"TAG":["a",[1,2],""],"BIG":null}`,
		`{"M":"\u00e9\ud83d\ude00\ud83d \"\\\/\b\f\n\r\t"}`,
		`{}`, `{"A":[]}`, `-- cursor: s=1`, `{"A":"b"} `,
	} {
		f.Add([]byte(s))
	}
	cfg := NewConfig()
	cfg.MaxMessageBytes = 16
	b := newBuilder("fuzz", "host", cfg)
	f.Fuzz(func(t *testing.T, line []byte) {
		var e rawEntry
		err := decodeEntry(line, &e)
		if want, ok := journalShaped(line); ok {
			if err != nil {
				t.Fatalf("encoding/json accepts %q, decodeEntry says %v", line, err)
			}
			compareWithStd(t, &e, want)
		}
		if err != nil {
			return
		}
		first := decoded(&e)
		var again rawEntry
		if err := decodeEntry(asBytes(&e), &again); err != nil {
			t.Fatalf("re-encoded %q: %v", asBytes(&e), err)
		}
		if second := decoded(&again); !slices.Equal(first, second) {
			t.Fatalf("round trip changed the entry:\n%v\n%v", first, second)
		}
		var ev event.Event
		b.build(&ev, &e, time.Unix(0, 0))
		if len(ev.Message) > 16 {
			t.Fatalf("message of %d bytes beyond max_message_bytes", len(ev.Message))
		}
		if out := codec.AppendJSON(nil, &ev); !json.Valid(out) {
			t.Fatalf("event JSON is invalid: %s", out)
		}
	})
}

// journalShaped decodes line with encoding/json when it is an object whose
// values are strings, null, byte arrays or arrays of strings and byte
// arrays, with distinct, non-empty keys.
func journalShaped(line []byte) (map[string]any, bool) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber() // journalctl writes bytes as integers: 0.0 or 1e0 is not one
	if dec.Decode(&m) != nil || m == nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF { // one value only, as Unmarshal
		return nil, false
	}
	// Duplicate keys: encoding/json keeps the last.
	if n, ok := countKeys(line); !ok || n != len(m) {
		return nil, false
	}
	for k, v := range m {
		if k == "" || !valueShaped(v, true) {
			return nil, false
		}
	}
	return m, true
}

// countKeys counts the members of the JSON object in line.
func countKeys(line []byte) (int, bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0, false
	}
	n := 0
	for dec.More() {
		if _, err := dec.Token(); err != nil {
			return 0, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return 0, false
		}
		n++
	}
	return n, true
}

func valueShaped(v any, top bool) bool {
	switch v := v.(type) {
	case nil:
		return top
	case string:
		return true
	case []any:
		if len(v) == 0 {
			return true
		}
		if _, num := v[0].(json.Number); num {
			return isBytes(v)
		}
		if !top {
			return false
		}
		for _, x := range v {
			switch x := x.(type) {
			case string:
			case []any:
				if !isBytes(x) {
					return false
				}
			default:
				return false
			}
		}
		return true
	}
	return false
}

func isBytes(v []any) bool {
	for _, x := range v {
		n, ok := x.(json.Number)
		if !ok {
			return false
		}
		if _, err := strconv.ParseUint(string(n), 10, 8); err != nil {
			return false
		}
	}
	return true
}

// compareWithStd checks e against encoding/json's reading of the same line
// where both can be compared: values that are valid UTF-8.
func compareWithStd(t *testing.T, e *rawEntry, want map[string]any) {
	t.Helper()
	for i := range e.fields {
		f := &e.fields[i]
		w := want[string(e.key(f))]
		if s, ok := w.(string); ok && f.n == 1 && !f.multi {
			if v := e.value(f, 0); utf8.Valid(v) && string(v) != s {
				t.Fatalf("%s = %q, encoding/json says %q", e.key(f), v, s)
			}
		}
	}
}

// asBytes encodes e with every value as a byte array.
func asBytes(e *rawEntry) []byte {
	out := []byte{'{'}
	for i := range e.fields {
		f := &e.fields[i]
		if i > 0 {
			out = append(out, ',')
		}
		out = appendRawString(out, e.key(f))
		out = append(out, ':')
		switch {
		case f.n == 0 && !f.multi:
			out = append(out, "null"...)
		case !f.multi:
			out = appendByteArray(out, e.value(f, 0))
		default:
			out = append(out, '[')
			for j := 0; j < f.n; j++ {
				if j > 0 {
					out = append(out, ',')
				}
				out = appendByteArray(out, e.value(f, j))
			}
			out = append(out, ']')
		}
	}
	return append(out, '}')
}

// appendByteArray writes v as [n,n,...]; an empty single value is written
// as "" (journalctl writes empty values as strings; [] is an empty list).
func appendByteArray(out, v []byte) []byte {
	if len(v) == 0 {
		return append(out, `""`...)
	}
	out = append(out, '[')
	for i, c := range v {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendInt(out, int64(c), 10)
	}
	return append(out, ']')
}

// appendRawString writes s as a JSON string escaping only '"' and '\\':
// the decoder takes other bytes as they are.
func appendRawString(out, s []byte) []byte {
	out = append(out, '"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			out = append(out, '\\')
		}
		out = append(out, c)
	}
	return append(out, '"')
}
