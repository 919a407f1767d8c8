package jsonscan

import (
	"encoding/json"
	"strconv"
	"testing"
)

func TestSkipMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{}`, `[]`, `{"a":[1,2,{"b":null}],"c":"\u00e9\n","d":-1.5e+3,"e":true,"f":false}`, `"x"`, `0`, `-0.1`,
		`{"a":1,}`, `[1,]`, `{"a"}`, `"\x"`, `01`, `1.`, `1e`, `tru`, `{"a":1`, "\"a\tb\"", `[[[[`, ` {"a" : 1 } `,
	} {
		s := New([]byte(in))
		err := s.Skip()
		ok := err == nil && s.AtEnd()
		if want := json.Valid([]byte(in)); ok != want {
			t.Errorf("%q: scanner says valid=%v (%v), encoding/json %v", in, ok, err, want)
		}
	}
}

func TestDepth(t *testing.T) {
	deep := make([]byte, 0, 2*(MaxDepth+1))
	for range MaxDepth + 1 {
		deep = append(deep, '[')
	}
	for range MaxDepth + 1 {
		deep = append(deep, ']')
	}
	s := New(deep)
	if err := s.Skip(); err != ErrDepth {
		t.Fatalf("got %v, want ErrDepth", err)
	}
}

func TestParseInt(t *testing.T) {
	for _, in := range []string{"0", "7", "-7", "9223372036854775807", "-9223372036854775808", "-0", "01", "1.0", "1e3", "9223372036854775808", "", "-"} {
		n, ok := ParseInt([]byte(in))
		canonical := false
		if v, err := strconv.ParseInt(in, 10, 64); err == nil && strconv.FormatInt(v, 10) == in {
			canonical = true
			if n != v {
				t.Errorf("%q: got %d, want %d", in, n, v)
			}
		}
		if ok != canonical {
			t.Errorf("%q: ok %v, want %v", in, ok, canonical)
		}
	}
}

func FuzzAppendUnescaped(f *testing.F) {
	for _, s := range []string{`a\nb`, `\u00e9\ud83d\ude00`, `\ud800`, `\ud800\u0041`, `\/\\\"\b\f\r\t`, `plain`} {
		f.Add([]byte(`"` + s + `"`))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := New(in)
		raw, _, err := s.Str()
		if err != nil || !s.AtEnd() {
			return
		}
		var want string
		if err := json.Unmarshal(in, &want); err != nil {
			t.Fatalf("scanner accepted %q, encoding/json: %v", in, err)
		}
		if got := string(AppendUnescaped(nil, raw)); got != want && validUTF8(raw) {
			t.Fatalf("%q: got %q, want %q", in, got, want)
		}
	})
}

// validUTF8: encoding/json replaces invalid UTF-8 bytes, which
// AppendUnescaped passes on (drover's encoders replace them later).
func validUTF8(b []byte) bool {
	return json.Valid([]byte(`"`+string(b)+`"`)) && string([]rune(string(b))) == string(b)
}
