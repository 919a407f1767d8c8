package template

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

func testEvent() *event.Event {
	meta := event.NewMeta("src", event.NewFields(
		event.Field{Key: "file", Value: event.StringValue("/alloc/logs/web.stdout.0")},
		event.Field{Key: "host", Value: event.StringValue("node-1")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "job_name", Value: event.StringValue("web")},
			event.Field{Key: "alloc_index", Value: event.IntValue(3)},
			event.Field{Key: "empty", Value: event.StringValue("")},
		))},
	))
	return &event.Event{
		Timestamp: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Message:   []byte("hello"),
		Meta:      meta,
		Fields:    event.NewFields(event.Field{Key: "level", Value: event.StringValue("warn")}),
	}
}

func TestRender(t *testing.T) {
	ev := testEvent()
	cases := []struct {
		tmpl string
		want string
		ok   bool
	}{
		{"logs-{{ nomad.job_name }}", "logs-web", true},
		{"/var/log/out/{{ host }}/{{ file }}.log", "/var/log/out/node-1//alloc/logs/web.stdout.0.log", true},
		{"{{level}}-{{nomad.alloc_index}}", "warn-3", true},
		{"{{ message }}@{{ timestamp }}", "hello@2024-01-02T03:04:05Z", true},
		{"constant", "constant", true},
		{"", "", true},
		{"x-{{ nomad.missing }}-y", "x--y", false},
		{"x-{{ nomad.empty }}", "x-", false},
		{"{{ host.sub }}", "", false},
		{"{{ nomad }}", `{"job_name":"web","alloc_index":3,"empty":""}`, true},
	}
	for _, c := range cases {
		tp, err := Parse(c.tmpl)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.tmpl, err)
		}
		got, ok := tp.Render([]byte("pre:"), ev)
		if string(got) != "pre:"+c.want || ok != c.ok {
			t.Errorf("Render(%q) = %q, %v; want %q, %v", c.tmpl, got, ok, "pre:"+c.want, c.ok)
		}
		missing := tp.FirstMissing(ev)
		if (missing == "") != c.ok {
			t.Errorf("FirstMissing(%q) = %q with ok=%v", c.tmpl, missing, c.ok)
		}
		if tp.String() != c.tmpl {
			t.Errorf("String() = %q", tp.String())
		}
	}
}

func TestFirstMissingNamesField(t *testing.T) {
	tp := MustParse("{{ host }}/{{ nomad.namespace }}/{{ nomad.job_name }}")
	if got := tp.FirstMissing(testEvent()); got != "nomad.namespace" {
		t.Fatalf("FirstMissing = %q", got)
	}
}

func TestConstantAndPrefix(t *testing.T) {
	cases := []struct {
		tmpl     string
		constant bool
		prefix   string
		fields   []string
	}{
		{"plain", true, "plain", nil},
		{"", true, "", nil},
		{"/var/log/{{ host }}/x{{file}}", false, "/var/log/", []string{"host", "file"}},
		{"{{ host }}", false, "", []string{"host"}},
	}
	for _, c := range cases {
		tp := MustParse(c.tmpl)
		if tp.IsConstant() != c.constant || tp.Prefix() != c.prefix || strings.Join(tp.Fields(), ",") != strings.Join(c.fields, ",") {
			t.Errorf("%q: constant=%v prefix=%q fields=%v", c.tmpl, tp.IsConstant(), tp.Prefix(), tp.Fields())
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		tmpl   string
		msg    string
		offset int
	}{
		{"logs-{{ nomad.job_name", `unclosed "{{"`, 5},
		{"logs-{{ }}", "empty field reference", 5},
		{"logs-{{}}", "empty field reference", 5},
		{"a }} b", `"}}" without an opening "{{"`, 2},
		{"{{ a }} }}", `"}}" without an opening "{{"`, 8},
		{"{{ a b }}", `invalid field reference "a b"`, 0},
		{"x{{ a {{ b }}", `invalid field reference "a {{ b"`, 1},
		{"{{ a..b }}", `field reference "a..b" has an empty path segment`, 0},
		{"{{ .a }}", `field reference ".a" has an empty path segment`, 0},
		{"{{ a. }}", `field reference "a." has an empty path segment`, 0},
	}
	for _, c := range cases {
		_, err := Parse(c.tmpl)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) error = %v, want *Error", c.tmpl, err)
			continue
		}
		if pe.Msg != c.msg || pe.Offset != c.offset {
			t.Errorf("Parse(%q) = %q at %d, want %q at %d", c.tmpl, pe.Msg, pe.Offset, c.msg, c.offset)
		}
		if !strings.Contains(err.Error(), c.tmpl) {
			t.Errorf("error %q does not quote the template", err)
		}
	}
}

func TestRenderDoesNotAllocate(t *testing.T) {
	ev := testEvent()
	tp := MustParse("/var/log/out/{{ host }}/{{ nomad.job_name }}-{{ nomad.alloc_index }}.log")
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf, _ = tp.Render(buf[:0], ev) }); n != 0 {
		t.Fatalf("Render allocates %v times", n)
	}
}

func BenchmarkRender(b *testing.B) {
	ev := testEvent()
	for _, s := range []string{"constant-index", "logs-{{ nomad.job_name }}", "/var/log/out/{{ host }}/{{ file }}.log"} {
		tp := MustParse(s)
		b.Run(s, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = tp.Render(buf[:0], ev)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"logs-{{ nomad.job_name }}", "/var/{{host}}/{{ file }}.log", "{{", "}}", "{{ }}", "a{{b}}c{{d.e}}", "{{{a}}}", "{{a..b}}"} {
		f.Add(s)
	}
	ev := testEvent()
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := Parse(s)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(s) {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		if tp.String() != s {
			t.Fatalf("String() = %q", tp.String())
		}
		// Literal text and references account for the whole template.
		var rebuilt strings.Builder
		for _, p := range tp.parts {
			rebuilt.WriteString(p.lit)
			if p.field != "" {
				rebuilt.WriteString("{{" + p.field + "}}")
			}
		}
		again, err := Parse(rebuilt.String())
		if err != nil {
			t.Fatalf("normalised %q does not parse: %v", rebuilt.String(), err)
		}
		if strings.Join(again.Fields(), "\x00") != strings.Join(tp.Fields(), "\x00") {
			t.Fatalf("fields changed: %v vs %v", again.Fields(), tp.Fields())
		}
		out, ok := tp.Render(nil, ev)
		if tp.IsConstant() && (string(out) != s || !ok) {
			t.Fatalf("constant %q rendered %q, %v", s, out, ok)
		}
		if !strings.HasPrefix(string(out), tp.Prefix()) {
			t.Fatalf("rendered %q lacks prefix %q", out, tp.Prefix())
		}
	})
}

func TestDateParts(t *testing.T) {
	e := &event.Event{Timestamp: time.Date(2026, 3, 7, 9, 5, 4, 0, time.FixedZone("x", 3600)),
		Meta: event.NewMeta("s", event.NewFields(event.Field{Key: "ns", Value: event.StringValue("prod")}))}
	for src, want := range map[string]string{
		"logs-{{ ns }}-{{ %Y.%m.%d }}": "logs-prod-2026.03.07",
		"/out/{{%F}}/{{ %H }}.log":     "/out/2026-03-07/08.log",
		"{{ %y%j-%M:%S-%% }}":          "26066-05:04-%",
		"plain % stays {{ ns }}":       "plain % stays prod",
	} {
		tm, err := Parse(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, ok := tm.Render(nil, e)
		if !ok || string(got) != want {
			t.Errorf("%s = %q %v, want %q", src, got, ok, want)
		}
	}
	tm := MustParse("idx-{{ %Y }}")
	if tm.IsConstant() || len(tm.Fields()) != 1 || tm.Fields()[0] != "timestamp" {
		t.Fatal("a date is a reference to the timestamp")
	}
	if _, ok := tm.Render(nil, &event.Event{}); ok || tm.FirstMissing(&event.Event{}) != "timestamp" {
		t.Fatal("an event without a timestamp must fall back like a missing field")
	}
	for _, bad := range []string{"{{ %Q }}", "{{ %Y% }}"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf, _ = tm.Render(buf[:0], e) }); n != 0 {
		t.Errorf("a date allocates %v times", n)
	}
}
