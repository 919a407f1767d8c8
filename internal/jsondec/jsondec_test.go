package jsondec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/event"
)

func TestObject(t *testing.T) {
	var d Decoder
	f, err := d.Object([]byte(` {"level":"info","n":42,"x":-1.5e3,"ok":true,"nil":null,"esc":"a\"b\u00e9\n","obj":{"k":"v"},"arr":[1,{"a":2}],"level":"warn"} `))
	if err != nil {
		t.Fatal(err)
	}
	got := string(f.AppendJSON(nil))
	want := `{"level":"warn","n":42,"x":-1500,"ok":true,"nil":null,"esc":"a\"bé\n","obj":{"k":"v"},"arr":[1,{"a":2}]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestErrors(t *testing.T) {
	var d Decoder
	for _, in := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":01}`, `{"a":"\x"}`, `{"a":tru}`, `{} x`, "{\"a\":\"\x01\"}", `{"a":[1,]}`} {
		if _, err := d.Object([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestManyKeysStayUnique(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 100; i++ {
		b.WriteString(`"k":1,`)
		b.WriteString(`"k` + strings.Repeat("x", i) + `":2,`)
	}
	b.WriteString(`"k":3}`)
	var d Decoder
	f, err := d.Object([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Lookup("k"); v.Int() != 3 || f.Len() != 100 {
		t.Fatalf("k=%v len=%d", v.Int(), f.Len())
	}
}

func TestFieldsSurviveLaterObjects(t *testing.T) {
	var d Decoder
	var all []*event.Fields
	for i := 0; i < 1000; i++ {
		f, err := d.Object([]byte(`{"a":"x\ty","b":{"c":1}}`))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, f)
	}
	for _, f := range all {
		if got := string(f.AppendJSON(nil)); got != `{"a":"x\ty","b":{"c":1}}` {
			t.Fatalf("fields changed: %s", got)
		}
	}
}

func TestObjectTaking(t *testing.T) {
	var d Decoder
	for _, c := range []struct {
		in, fields string
		taken      string
		found      bool
	}{
		{`{"a":1,"msg":"x\"y","b":{"msg":2}}`, `{"a":1,"b":{"msg":2}}`, `"x\"y"`, true},
		{`{"msg":1,"a":true,"msg":[3]}`, `{"a":true}`, `[3]`, true},
		{`{"a":{"msg":1}}`, `{"a":{"msg":1}}`, `null`, false},
		{`{}`, `{}`, `null`, false},
	} {
		f, v, found, err := d.ObjectTaking([]byte(c.in), "msg")
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if got := string(f.AppendJSON(nil)); got != c.fields || string(v.AppendJSON(nil)) != c.taken || found != c.found {
			t.Errorf("%s: fields %s, taken %s %t; want %s, %s %t", c.in, got, v.AppendJSON(nil), found, c.fields, c.taken, c.found)
		}
	}
	// Object after ObjectTaking takes nothing.
	if f, err := d.Object([]byte(`{"msg":1}`)); err != nil || f.Len() != 1 {
		t.Fatalf("Object after ObjectTaking: %v %v", f, err)
	}
	if _, _, _, err := d.ObjectTaking([]byte(`{"msg":"x",}`), "msg"); err == nil {
		t.Fatal("no error for invalid JSON")
	}
}

func BenchmarkObject(b *testing.B) {
	line := []byte(`{"time":"2026-12-07T10:00:00.123Z","level":"info","msg":"request served","method":"GET","path":"/api/v1/users/42","status":200,"duration_ms":12.5,"user":{"id":42,"name":"ana"}}`)
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := d.Object(line); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzObject checks the decoder against encoding/json: it accepts exactly
// the objects encoding/json accepts, and what it decodes, encoded again,
// decodes to the same value.
func FuzzObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":"\ud83d\ude00","b":[1,2,{"c":null}]}`, `{"a":1e400}`, `{"a":"\ud800\u0041"}`, `{"a":{"b":{"c":{"d":{}}}}}`, "{\"a\":\"\xff\"}", `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Decoder
		fs, err := d.Object(in)
		isObject := json.Valid(in) && bytes.HasPrefix(bytes.TrimLeft(in, " \t\r\n"), []byte("{"))
		if (err == nil) != isObject {
			t.Fatalf("%q: error %v, encoding/json valid object %v", in, err, isObject)
		}
		if err != nil {
			return
		}
		out := fs.AppendJSON(nil)
		if !json.Valid(out) {
			t.Fatalf("%q encoded as invalid JSON %q", in, out)
		}
		var want, got any
		if json.Unmarshal(in, &want) != nil || json.Unmarshal(out, &got) != nil {
			return // numbers out of float64's range: encoding/json refuses them
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%q decoded as %q", in, out)
		}
		// Taking a member aside leaves the others, and the member is
		// what Object decoded.
		rest, v, found, err := d.ObjectTaking(in, "a")
		if err != nil {
			t.Fatalf("%q: ObjectTaking: %v", in, err)
		}
		all := fs
		if found {
			all = rest.With(event.Field{Key: "a", Value: v})
		}
		var again any
		if json.Unmarshal(all.AppendJSON(nil), &again) != nil || !reflect.DeepEqual(got, again) {
			t.Fatalf("%q: ObjectTaking gave %s and %s", in, rest.AppendJSON(nil), v.AppendJSON(nil))
		}
		if _, dup := rest.Lookup("a"); dup {
			t.Fatalf("%q: ObjectTaking left \"a\" in %s", in, rest.AppendJSON(nil))
		}
	})
}

func TestPlainRun(t *testing.T) {
	naive := func(b []byte, i int) int {
		for ; i < len(b); i++ {
			if b[i] == '"' || b[i] == '\\' || b[i] < 0x20 {
				break
			}
		}
		return i
	}
	for n := 0; n < 24; n++ {
		for at := 0; at <= n; at++ {
			for _, c := range []byte{'"', '\\', 0, 0x1f, 0x20, '!', '#', '[', ']', 0x7f, 0x80, 0xe9, 0xff} {
				b := bytes.Repeat([]byte("aé"), n)[:n]
				if at < n {
					b[at] = c
				}
				for from := 0; from <= n; from += 3 {
					if got, want := plainRun(b, from), naive(b, from); got != want {
						t.Fatalf("plainRun(%q, %d) = %d, want %d", b, from, got, want)
					}
				}
			}
		}
	}
}

func TestIntegers(t *testing.T) {
	var d Decoder
	for _, n := range []string{"0", "-0", "7", "-7", "999999999999999999", "-999999999999999999", "1000000000000000000",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "-12345678901234567890"} {
		f, err := d.Object([]byte(`{"n":` + n + `}`))
		if err != nil {
			t.Fatal(err)
		}
		var want any
		if err := json.Unmarshal([]byte(n), &want); err != nil {
			t.Fatal(err)
		}
		v, _ := f.Lookup("n")
		var got any
		if err := json.Unmarshal(v.AppendJSON(nil), &got); err != nil || got != want {
			t.Errorf("%s decoded as %s", n, v.AppendJSON(nil))
		}
		if i, err := strconv.ParseInt(n, 10, 64); err == nil && (v.Kind() != event.KindInt || v.Int() != i) {
			t.Errorf("%s: kind %v, %d", n, v.Kind(), v.Int())
		}
	}
}
