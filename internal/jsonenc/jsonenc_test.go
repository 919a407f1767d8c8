package jsonenc

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "tab\tnewline\ncr\r", "nul\x00bell\x07esc\x1b",
		"unicode: héllo, 日本語, emoji 🚀", "html <b>&amp;</b>", "line sep \u2028 para sep \u2029", "\x7f del",
	} {
		got := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: not valid JSON: %v", s, got, err)
		}
		if back != s {
			t.Errorf("round trip of %q gave %q", s, back)
		}
		if b := AppendBytes(nil, []byte(s)); string(b) != string(got) {
			t.Errorf("AppendBytes and AppendString differ for %q: %s vs %s", s, b, got)
		}
	}
}

func TestInvalidUTF8BecomesReplacementCharacter(t *testing.T) {
	got := AppendBytes(nil, []byte("a\xffb\xc3(c\xe2\x82"))
	var back string
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if back != "a\ufffdb\ufffd(c\ufffd\ufffd" {
		t.Errorf("got %q", back)
	}
	if !strings.Contains(string(got), `\ufffd`) {
		t.Errorf("replacement not escaped: %s", got)
	}
}

func TestNumbersAndTime(t *testing.T) {
	if got := string(AppendFloat(nil, math.NaN())); got != "null" {
		t.Errorf("NaN: %s", got)
	}
	if got := string(AppendFloat(nil, math.Inf(1))); got != "null" {
		t.Errorf("Inf: %s", got)
	}
	if got := string(AppendFloat(nil, 1.5)); got != "1.5" {
		t.Errorf("1.5: %s", got)
	}
	if got := string(AppendInt(nil, -42)); got != "-42" {
		t.Errorf("-42: %s", got)
	}
	ts := time.Date(2026, 11, 21, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	if got := string(AppendTime(nil, ts)); got != `"2026-11-21T11:00:00.123456789Z"` {
		t.Errorf("time: %s", got)
	}
}

func FuzzAppendBytes(f *testing.F) {
	for _, s := range []string{"", "hello", "a\xffb", "\x00\x01\"\\", "\u2028", "日本"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := AppendBytes(nil, in)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON for %q: %s", in, out)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if utf8.Valid(in) && back != string(in) {
			t.Fatalf("valid UTF-8 %q came back as %q", in, back)
		}
		if !utf8.ValidString(back) {
			t.Fatalf("decoded string is not valid UTF-8: %q", back)
		}
		if got, want := string(out), `"`+referenceEscape(string(in))+`"`; got != want {
			t.Fatalf("AppendBytes(%q) = %s, want %s", in, got, want)
		}
		// Appending after existing bytes, into a buffer without spare room.
		prefix := []byte("prefix")
		if got := AppendEscaped(prefix[:len(prefix):len(prefix)], string(in)); string(got) != "prefix"+referenceEscape(string(in)) {
			t.Fatalf("AppendEscaped after a prefix = %q", got)
		}
	})
}

func BenchmarkAppendBytes(b *testing.B) {
	line := []byte(`2026-11-21T12:00:00Z INFO request handled method=GET path=/api/v1/items status=200 duration=1.2ms user="alice" bytes=512`)
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendBytes(buf[:0], line)
	}
}

func TestAppendTimeMatchesStandardLibrary(t *testing.T) {
	times := []time.Time{
		time.Unix(0, 0), time.Unix(0, 1), time.Unix(951782400, 0), // 2000-02-29
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 12, 31, 0, 0, 0, 100000000, time.FixedZone("x", -7200)),
		time.Date(9999, 12, 31, 23, 59, 59, 5000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	for _, ts := range times {
		want := ts.UTC().Format(time.RFC3339Nano)
		if got := string(AppendTimeText(nil, ts)); got != want {
			t.Errorf("AppendTimeText(%v) = %s, want %s", ts, got, want)
		}
	}
}

func FuzzAppendTime(f *testing.F) {
	f.Add(int64(0), int64(0))
	f.Add(int64(1795265123), int64(783856476))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		ts := time.Unix(sec, nsec)
		if got, want := string(AppendTimeText(nil, ts)), ts.UTC().Format(time.RFC3339Nano); got != want {
			t.Fatalf("AppendTimeText(%d, %d) = %s, want %s", sec, nsec, got, want)
		}
	})
}

func BenchmarkAppendTime(b *testing.B) {
	ts := time.Date(2026, 11, 21, 12, 0, 0, 123456789, time.UTC)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendTime(buf[:0], ts)
	}
}

// BenchmarkAppendBytesKinds escapes the kinds of log lines drover ships:
// a JSON log line (every key and string value quoted), logfmt text with a
// few quotes, and text with non-ASCII words.
func BenchmarkAppendBytesKinds(b *testing.B) {
	for _, c := range []struct{ name, line string }{
		{"json", `{"ts":"2026-11-21T12:00:00.123Z","level":"info","logger":"http","msg":"request handled","method":"GET","path":"/api/v1/items","status":200,"duration_ms":1.2,"user":"alice","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`},
		{"logfmt", `ts=2026-11-21T12:00:00.123Z level=info caller=server.go:212 msg="request handled" method=GET path=/api/v1/items status=200 duration=1.2ms user=alice trace_id=4bf92f3577b34da6a3ce929d0e0e4736`},
		{"utf8", `2026-11-21T12:00:00Z INFO commande reçue de Zürich pour le café — client « naïve » 東京 livraison prévue à 14h, état: créé`},
	} {
		b.Run(c.name, func(b *testing.B) {
			line := []byte(c.line)
			buf := make([]byte, 0, 1024)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendBytes(buf[:0], line)
			}
		})
	}
}

// referenceEscape is the escaping rule written byte by byte.
func referenceEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xF])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			b.WriteString(`\u202`)
			b.WriteByte(hex[r&0xF])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// TestEscapingAtEveryPosition puts each kind of byte that needs attention
// at every position of the 8-byte words and of the tail, alone and in
// pairs, and compares with the byte-by-byte rule.
func TestEscapingAtEveryPosition(t *testing.T) {
	specials := []string{`"`, `\`, "\x00", "\x1f", "\n", "\x7f", "é", "東", "\u2028", "\u2029", "\u2027", "\xff", "\xe2\x82",
		"\xed\xa0\x80" /* surrogate */, "\xe0\x80\xaf" /* overlong */, "\xc1\xbf" /* overlong */, "\xef\xbf\xbd", "🚀", " "}
	for n := 0; n <= 20; n++ {
		for i := 0; i <= n; i++ {
			for _, a := range specials {
				for _, z := range specials {
					s := strings.Repeat("a", i) + a + strings.Repeat("b", n-i) + z
					if got, want := string(AppendEscaped(nil, s)), referenceEscape(s); got != want {
						t.Fatalf("AppendEscaped(%q) = %q, want %q", s, got, want)
					}
				}
			}
		}
	}
}
