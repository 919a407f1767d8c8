package journald

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

// decoded renders e as "KEY=value" per value, multi-valued fields as
// KEY[]=value, null as KEY=<null>.
func decoded(e *rawEntry) []string {
	var out []string
	for i := range e.fields {
		f := &e.fields[i]
		k := string(e.key(f))
		if f.multi {
			k += "[]"
		}
		if f.n == 0 && !f.multi {
			out = append(out, k+"=<null>")
		}
		for j := 0; j < f.n; j++ {
			out = append(out, fmt.Sprintf("%s=%q", k, e.value(f, j)))
		}
	}
	return out
}

func TestDecodeEntry(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{`{}`, nil},
		{` { "A" : "b" } ` + "\n", []string{`A="b"`}},
		{`{"MESSAGE":"hello \"world\"\\ \/ \b\f\n\r\t","PRIORITY":"6"}`, []string{`MESSAGE="hello \"world\"\\ / \b\f\n\r\t"`, `PRIORITY="6"`}},
		{`{"M":"\u00e9\u20ac\ud83d\ude00 caf\u00C9"}`, []string{`M="é€😀 cafÉ"`}},
		{`{"M":"lone \ud83d end"}`, []string{"M=\"lone \uFFFD end\""}},
		{`{"M":"lone \ud83d\u0041"}`, []string{"M=\"lone \uFFFDA\""}},
		{`{"M":"raw ` + "\x01\xff" + ` bytes"}`, []string{`M="raw \x01\xff bytes"`}},
		{`{"MESSAGE":[104,105,0,255]}`, []string{`MESSAGE="hi\x00\xff"`}},
		{`{"MESSAGE":[]}`, []string{}},
		{`{"TAG":["a","b"],"X":[[1,2],"c",[]]}`, []string{`TAG[]="a"`, `TAG[]="b"`, `X[]="\x01\x02"`, `X[]="c"`, `X[]=""`}},
		{`{"BIG":null,"A":""}`, []string{`BIG=<null>`, `A=""`}},
	}
	var e rawEntry
	for _, tc := range cases {
		if err := decodeEntry([]byte(tc.in), &e); err != nil {
			t.Errorf("decode %q: %v", tc.in, err)
			continue
		}
		if got := decoded(&e); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("decode %q\n got %v\nwant %v", tc.in, got, tc.want)
		}
	}
}

func TestDecodeEntryErrors(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `"x"`, `{`, `{"A"}`, `{"A":}`, `{"A":1}`, `{"A":true}`, `{"A":{}}`, `{"A":"b",}`,
		`{"A":"b"} x`, `{"A":"b"}{}`, `{"A":"unterminated}`, `{"A":"\x"}`, `{"A":"\u12"}`, `{"A":"\uzzzz"}`,
		`{"A":[256]}`, `{"A":[1,]}`, `{"A":[1 2]}`, `{"A":[-1]}`, `{"A":["a" "b"]}`, `{"A":[[1],2]}`,
		`{"":"x"}`, `{A:"b"}`, `{"A":nul}`, `{"A":"b" "C":"d"}`,
	} {
		var e rawEntry
		err := decodeEntry([]byte(in), &e)
		if err == nil {
			t.Errorf("decode %q: no error, got %v", in, decoded(&e))
		} else if !strings.Contains(err.Error(), "not a journal entry") {
			t.Errorf("decode %q: error %v does not say what it expected", in, err)
		}
	}
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	// journalctl's output for every kind of value, as encoding/json sees it.
	line := `{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1700000000123456","MESSAGE":"caf\u00e9 \"q\" \\","BIN":[0,1,255],"MULTI":["x",[7,8]],"N":null}`
	var want map[string]any
	if err := json.Unmarshal([]byte(line), &want); err != nil {
		t.Fatal(err)
	}
	var e rawEntry
	if err := decodeEntry([]byte(line), &e); err != nil {
		t.Fatal(err)
	}
	for i := range e.fields {
		f := &e.fields[i]
		k := string(e.key(f))
		w, ok := want[k]
		if !ok {
			t.Errorf("extra field %s", k)
			continue
		}
		if got := asJSONValue(&e, f); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s = %v, want %v", k, got, w)
		}
	}
}

// asJSONValue returns f as encoding/json would decode journalctl's output.
func asJSONValue(e *rawEntry, f *rawField) any {
	bytesAny := func(b []byte) []any {
		out := make([]any, len(b))
		for i, c := range b {
			out[i] = float64(c)
		}
		return out
	}
	one := func(j int, binary bool) any {
		if binary {
			return bytesAny(e.value(f, j))
		}
		return string(e.value(f, j))
	}
	switch {
	case f.n == 0 && !f.multi:
		return nil
	case !f.multi:
		if k := string(e.key(f)); k == "BIN" {
			return one(0, true)
		}
		return one(0, false)
	}
	var out []any
	for j := 0; j < f.n; j++ {
		out = append(out, one(j, j == 1))
	}
	return out
}

func TestBuildEvent(t *testing.T) {
	cfg := NewConfig()
	b := newBuilder("src", "me", cfg)
	var e rawEntry
	line := `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1700000000123456","__MONOTONIC_TIMESTAMP":"5","MESSAGE":"hi","_HOSTNAME":"node-1","_SYSTEMD_UNIT":"nomad.service","TAG":["a","b"],"BIG":null}`
	if err := decodeEntry([]byte(line), &e); err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	read := time.Unix(1, 0)
	b.build(&ev, &e, read)
	if string(ev.Message) != "hi" || !ev.Timestamp.Equal(time.UnixMicro(1700000000123456)) {
		t.Fatalf("event %+v", ev)
	}
	obj := append([]byte{'{'}, ev.Meta.JSONMembers()...)
	if got := string(append(obj, '}')); got != `{"source_type":"journald","host":"node-1"}` {
		t.Errorf("meta %s", got)
	}
	if got := string(ev.Fields.AppendJSON(nil)); got != `{"journald":{"_systemd_unit":"nomad.service","tag":["a","b"]}}` {
		t.Errorf("fields %s", got)
	}
	// The Meta of a host is shared; the event's bytes survive the next
	// decode into the same buffers.
	var ev2 event.Event
	if err := decodeEntry([]byte(`{"__CURSOR":"d","MESSAGE":"other","_HOSTNAME":"node-1"}`), &e); err != nil {
		t.Fatal(err)
	}
	b.build(&ev2, &e, read)
	if ev2.Meta != ev.Meta || string(ev.Message) != "hi" || !ev2.Timestamp.Equal(read) || ev2.Fields != nil {
		t.Errorf("second event %+v, first message %q", ev2, ev.Message)
	}
}
