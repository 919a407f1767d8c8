package containerlog

import (
	"strings"
	"testing"
	"time"
)

func TestParseCRI(t *testing.T) {
	l, err := ParseCRI([]byte("2026-12-07T17:20:11.123456789Z stderr P part one"))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 12, 7, 17, 20, 11, 123456789, time.UTC)
	if !l.Time.Equal(want) || l.Stream != "stderr" || !l.Partial || string(l.Message) != "part one" {
		t.Fatalf("%+v", l)
	}
	l, err = ParseCRI([]byte("2026-12-07T17:20:11+01:00 stdout F:x "))
	if err != nil || l.Partial || len(l.Message) != 0 {
		t.Fatalf("%+v %v", l, err)
	}
	for _, bad := range []string{"", "x", "2026-12-07T17:20:11Z", "2026-12-07T17:20:11Z stdin F m", "nope stdout F m", "2026-12-07T17:20:11Z stdout X m"} {
		if _, err := ParseCRI([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseDocker(t *testing.T) {
	var d DockerDecoder
	l, err := d.Parse([]byte(`{"log":"hello \"world\"\n","stream":"stdout","time":"2026-12-07T17:20:11.5Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(l.Message) != `hello "world"` || l.Partial || l.Stream != "stdout" || l.Time.Nanosecond() != 500000000 {
		t.Fatalf("%+v", l)
	}
	l, err = d.Parse([]byte(`{"log":"piece","stream":"stderr","time":"2026-12-07T17:20:11Z"}`))
	if err != nil || !l.Partial || string(l.Message) != "piece" {
		t.Fatalf("%+v %v", l, err)
	}
	for _, bad := range []string{`{}`, `{"log":1}`, `{"log":"x\n","stream":"in"}`, `{"log":"x\n","time":"yesterday"}`, `not json`} {
		if _, err := d.Parse([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestJoinerRejoinsAndBounds(t *testing.T) {
	j := Joiner{MaxBytes: 10}
	t0 := time.Unix(1, 0)
	if _, _, done := j.Add(Line{Time: t0, Partial: true, Message: []byte("abc")}); done || !j.Pending() {
		t.Fatal("a partial piece ended the line")
	}
	w, trunc, done := j.Add(Line{Time: time.Unix(2, 0), Message: []byte("def")})
	if !done || trunc || string(w.Message) != "abcdef" || !w.Time.Equal(t0) {
		t.Fatalf("%q %v %v", w.Message, trunc, done)
	}
	j.Add(Line{Partial: true, Message: []byte("0123456")})
	w, trunc, done = j.Add(Line{Message: []byte("789abc")})
	if !done || !trunc || string(w.Message) != "0123456789" {
		t.Fatalf("%q %v %v", w.Message, trunc, done)
	}
	w, trunc, _ = j.Add(Line{Message: []byte(strings.Repeat("x", 11))})
	if !trunc || len(w.Message) != 10 {
		t.Fatal("a whole line over the bound is not cut")
	}
}

func BenchmarkParseCRI(b *testing.B) {
	line := []byte(`2026-12-07T17:20:11.123456789Z stdout F {"level":"info","msg":"request served","status":200}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCRI(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDocker(b *testing.B) {
	line := []byte(`{"log":"{\"level\":\"info\",\"msg\":\"request served\",\"status\":200}\n","stream":"stdout","time":"2026-12-07T17:20:11.123456789Z"}`)
	var d DockerDecoder
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseCRI: any input gives a line or an error; a line's message is a
// suffix of the input.
func FuzzParseCRI(f *testing.F) {
	f.Add([]byte("2026-12-07T17:20:11.123456789Z stdout F message"))
	f.Add([]byte("2026-12-07T17:20:11Z stderr P:x "))
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := ParseCRI(in)
		if err == nil && !strings.HasSuffix(string(in), string(l.Message)) {
			t.Fatalf("%q: message %q is not the end of the line", in, l.Message)
		}
	})
}

// FuzzParseDocker: any input gives a line or an error, and pieces rejoin.
func FuzzParseDocker(f *testing.F) {
	f.Add([]byte(`{"log":"hello\n","stream":"stdout","time":"2026-12-07T17:20:11.5Z"}`))
	f.Add([]byte(`{"log":"\u00e9\ud83d\ude00","stream":"stderr"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var d DockerDecoder
		l, err := d.Parse(in)
		if err != nil {
			return
		}
		var j Joiner
		j.Add(Line{Partial: true, Message: []byte("x")})
		l.Partial = false
		if w, _, done := j.Add(l); !done || string(w.Message) != "x"+string(l.Message) {
			t.Fatalf("%q: joined %q", in, w.Message)
		}
	})
}
