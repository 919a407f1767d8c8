package codec

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/drover-dev/drover/internal/event"
)

var ts = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))

func testMeta() *event.Meta {
	return event.NewMeta("src", event.NewFields(
		event.Field{Key: "file", Value: event.StringValue("/alloc/logs/web.stdout.0")},
		event.Field{Key: "host", Value: event.StringValue("node-1")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "job_name", Value: event.StringValue("web")},
			event.Field{Key: "alloc_index", Value: event.IntValue(3)},
		))},
	))
}

func TestAppendJSON(t *testing.T) {
	meta := testMeta()
	cases := []struct {
		name string
		ev   event.Event
		want string
	}{
		{
			name: "meta only",
			ev:   event.Event{Timestamp: ts, Message: []byte("hello"), Meta: meta},
			want: `{"timestamp":"2024-05-06T05:08:09.123456789Z","message":"hello","file":"/alloc/logs/web.stdout.0","host":"node-1","nomad":{"job_name":"web","alloc_index":3}}`,
		},
		{
			name: "no meta no fields",
			ev:   event.Event{Timestamp: ts, Message: []byte("x")},
			want: `{"timestamp":"2024-05-06T05:08:09.123456789Z","message":"x"}`,
		},
		{
			name: "fields override meta keys",
			ev: event.Event{Timestamp: ts, Message: []byte("m"), Meta: meta, Fields: event.NewFields(
				event.Field{Key: "level", Value: event.StringValue("info")},
				event.Field{Key: "host", Value: event.StringValue("other")},
			)},
			want: `{"timestamp":"2024-05-06T05:08:09.123456789Z","message":"m","level":"info","host":"other","file":"/alloc/logs/web.stdout.0","nomad":{"job_name":"web","alloc_index":3}}`,
		},
		{
			name: "flags",
			ev:   event.Event{Timestamp: ts, Message: []byte("cut"), Flags: event.Truncated | event.Partial},
			want: `{"timestamp":"2024-05-06T05:08:09.123456789Z","message":"cut","truncated":true,"partial":true}`,
		},
		{
			name: "reserved keys in fields and meta are left out",
			ev: event.Event{Timestamp: ts, Message: []byte("real"), Flags: event.Truncated,
				Meta: event.NewMeta("s", event.NewFields(
					event.Field{Key: "message", Value: event.StringValue("meta message")},
					event.Field{Key: "partial", Value: event.BoolValue(false)},
				)),
				Fields: event.NewFields(
					event.Field{Key: "timestamp", Value: event.IntValue(1)},
					event.Field{Key: "truncated", Value: event.BoolValue(false)},
				)},
			want: `{"timestamp":"2024-05-06T05:08:09.123456789Z","message":"real","partial":false,"truncated":true}`,
		},
		{
			name: "escaping, invalid UTF-8 and NUL",
			ev:   event.Event{Timestamp: ts, Message: []byte("a\"b\\c\n\x00\xff\tü\u2028")},
			want: `{"timestamp":"2024-05-06T05:08:09.123456789Z","message":"a\"b\\c\n\u0000\ufffd\tü\u2028"}`,
		},
		{
			name: "value kinds",
			ev: event.Event{Timestamp: ts, Message: nil, Fields: event.NewFields(
				event.Field{Key: "f", Value: event.FloatValue(1.5)},
				event.Field{Key: "b", Value: event.BoolValue(true)},
				event.Field{Key: "n", Value: event.Value{}},
				event.Field{Key: "raw", Value: event.RawJSONValue([]byte(`{"a":[1,2]}`))},
				event.Field{Key: "t", Value: event.TimeValue(ts)},
			)},
			want: `{"timestamp":"2024-05-06T05:08:09.123456789Z","message":"","f":1.5,"b":true,"n":null,"raw":{"a":[1,2]},"t":"2024-05-06T05:08:09.123456789Z"}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := AppendJSON([]byte("prefix"), &c.ev)
			if !bytes.HasPrefix(got, []byte("prefix")) {
				t.Fatalf("AppendJSON did not append: %q", got)
			}
			got = got[len("prefix"):]
			if string(got) != c.want {
				t.Fatalf("got\n%s\nwant\n%s", got, c.want)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON: %s", got)
			}
		})
	}
}

func TestEncodingAndFraming(t *testing.T) {
	meta := event.NewMeta("s", event.NewFields(event.Field{Key: "host", Value: event.StringValue("h")}))
	evs := []event.Event{
		{Timestamp: ts, Message: []byte("one"), Meta: meta},
		{Timestamp: ts, Message: []byte("two"), Meta: meta},
	}
	build := func(enc interface {
		AppendEvent([]byte, *event.Event, int) []byte
		AppendEnd([]byte, int) []byte
	}, evs []event.Event) []byte {
		var body []byte
		for i := range evs {
			body = enc.AppendEvent(body, &evs[i], i)
		}
		return enc.AppendEnd(body, len(evs))
	}

	text := build(Lines{Encoding: Text}, evs)
	if string(text) != "one\ntwo\n" {
		t.Errorf("text lines = %q", text)
	}
	nd := build(Lines{Encoding: JSON}, evs)
	lines := strings.Split(strings.TrimSuffix(string(nd), "\n"), "\n")
	if len(lines) != 2 || !strings.HasSuffix(string(nd), "\n") {
		t.Fatalf("ndjson = %q", nd)
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if m["message"] != string(evs[i].Message) || m["host"] != "h" {
			t.Errorf("line %d = %v", i, m)
		}
	}
	arr := build(Array{}, evs)
	var got []map[string]any
	if err := json.Unmarshal(arr, &got); err != nil {
		t.Fatalf("array %q: %v", arr, err)
	}
	if len(got) != 2 || got[0]["message"] != "one" || got[1]["message"] != "two" {
		t.Errorf("array = %v", got)
	}
	if empty := build(Array{}, nil); string(empty) != "[]" {
		t.Errorf("empty array = %q", empty)
	}
}

func TestParseEncoding(t *testing.T) {
	for _, s := range []string{"json", "text"} {
		enc, err := ParseEncoding(s)
		if err != nil || enc.String() != s {
			t.Errorf("ParseEncoding(%q) = %v, %v", s, enc, err)
		}
	}
	if _, err := ParseEncoding("xml"); err == nil {
		t.Error("ParseEncoding(xml) succeeded")
	}
}

func TestAppendJSONDoesNotAllocate(t *testing.T) {
	meta := testMeta()
	ev := event.Event{Timestamp: ts, Message: []byte(`level=info msg="request done" status=200`), Meta: meta,
		Fields: event.NewFields(event.Field{Key: "host", Value: event.StringValue("x")})}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], &ev) }); n != 0 {
		t.Fatalf("AppendJSON allocates %v times per event", n)
	}
	arr := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { arr = Array{}.AppendEvent(arr[:0], &ev, 1) }); n != 0 {
		t.Fatalf("Array.AppendEvent allocates %v times per event", n)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	meta := testMeta()
	ev := event.Event{Timestamp: ts, Message: []byte(`2024-05-06T07:08:09Z INFO request done method=GET path=/api/v1/items status=200 duration=1.2ms`), Meta: meta}
	b.Run("meta", func(b *testing.B) {
		buf := make([]byte, 0, 4096)
		b.ReportAllocs()
		b.SetBytes(int64(len(ev.Message)))
		for b.Loop() {
			buf = AppendJSON(buf[:0], &ev)
		}
	})
	withFields := ev
	withFields.Fields = event.NewFields(
		event.Field{Key: "level", Value: event.StringValue("info")},
		event.Field{Key: "status", Value: event.IntValue(200)},
	)
	b.Run("fields", func(b *testing.B) {
		buf := make([]byte, 0, 4096)
		b.ReportAllocs()
		b.SetBytes(int64(len(ev.Message)))
		for b.Loop() {
			buf = AppendJSON(buf[:0], &withFields)
		}
	})
	override := ev
	override.Fields = event.NewFields(event.Field{Key: "host", Value: event.StringValue("other")})
	b.Run("override", func(b *testing.B) {
		buf := make([]byte, 0, 4096)
		b.ReportAllocs()
		b.SetBytes(int64(len(ev.Message)))
		for b.Loop() {
			buf = AppendJSON(buf[:0], &override)
		}
	})
}

func FuzzAppendJSON(f *testing.F) {
	f.Add([]byte("hello"), "level", "info", "host", uint8(0), int64(5))
	f.Add([]byte("\xff\x00\"\\\u2028"), "message", "x\xfe", "timestamp", uint8(3), int64(-1))
	f.Add([]byte(""), "", "", "", uint8(1), int64(0))
	f.Fuzz(func(t *testing.T, msg []byte, key, val, metaKey string, flags uint8, n int64) {
		meta := event.NewMeta("s", event.NewFields(
			event.Field{Key: metaKey, Value: event.StringValue(val)},
			event.Field{Key: "nested", Value: event.ObjectValue(event.NewFields(
				event.Field{Key: key, Value: event.IntValue(n)}))},
		))
		ev := event.Event{Timestamp: time.Unix(0, n), Message: msg, Meta: meta, Flags: event.Flags(flags & 3),
			Fields: event.NewFields(event.Field{Key: key, Value: event.BytesValue([]byte(val))})}
		out := AppendJSON(nil, &ev)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q", out)
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		keys := map[string]bool{}
		if _, err := dec.Token(); err != nil { // {
			t.Fatal(err)
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			k := tok.(string)
			// Distinct invalid UTF-8 keys may all become "\ufffd".
			if keys[k] && utf8.ValidString(key) && utf8.ValidString(metaKey) {
				t.Fatalf("key %q twice in %s", k, out)
			}
			keys[k] = true
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
		var m struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		if utf8.Valid(msg) && m.Message != string(msg) {
			t.Fatalf("message %q came back as %q", msg, m.Message)
		}
		if !utf8.Valid(msg) && !utf8.ValidString(m.Message) {
			t.Fatalf("invalid UTF-8 passed through: %q", m.Message)
		}
	})
}
