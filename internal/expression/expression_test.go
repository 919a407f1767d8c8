package expression

import (
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

func testEvent() *event.Event {
	nomad := event.NewFields(
		event.Field{Key: "namespace", Value: event.StringValue("prod")},
		event.Field{Key: "job_name", Value: event.StringValue("api")},
		event.Field{Key: "alloc_index", Value: event.IntValue(2)},
		event.Field{Key: "meta", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "drover.parser", Value: event.StringValue("json")}))},
	)
	meta := event.NewMeta("src", event.NewFields(
		event.Field{Key: "stream", Value: event.StringValue("stdout")},
		event.Field{Key: "nomad", Value: event.ObjectValue(nomad)},
	))
	return &event.Event{
		Timestamp: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
		Message:   []byte(`level=debug msg="user logged in" user=42`),
		Meta:      meta,
		Fields: event.NewFields(
			event.Field{Key: "level", Value: event.StringValue("debug")},
			event.Field{Key: "status", Value: event.IntValue(503)},
			event.Field{Key: "ratio", Value: event.FloatValue(0.5)},
			event.Field{Key: "ok", Value: event.BoolValue(true)},
		),
	}
}

var conditions = []struct {
	src    string
	want   bool
	native bool
}{
	{`nomad.namespace == "prod"`, true, true},
	{`"prod" == nomad.namespace`, true, true},
	{`nomad.namespace != "prod"`, false, true},
	{`nomad.namespace == "dev" || level == "debug"`, true, true},
	{`nomad.namespace == "prod" and not (level in ["info", "warn"])`, true, true},
	{`level in ["debug", "trace"]`, true, true},
	{`message contains "logged in"`, true, true},
	{`message startsWith "level="`, true, true},
	{`message endsWith "42"`, true, true},
	{`message matches "level=(debug|trace)"`, true, true},
	{`message matches "^ERROR"`, false, true},
	{`status >= 500`, true, true},
	{`status < 500`, false, true},
	{`status == 503`, true, true},
	{`status == "503"`, false, true},
	{`ratio > 0.25`, true, true},
	{`nomad.alloc_index == 2`, true, true},
	{`nomad.meta["drover.parser"] == "json"`, true, true},
	{`missing == nil`, true, true},
	{`missing != nil`, false, true},
	{`missing == "x"`, false, true},
	{`ok`, true, true},
	{`ok == true`, true, true},
	{`level > "a"`, true, true},
	// The virtual machine's share.
	{`lower(level) == "debug"`, true, false},
	{`len(message) > 10`, true, false},
	{`status / 100 > 5`, true, false},
	{`nomad.namespace + "-" + nomad.job_name == "prod-api"`, true, false},
	{`upper(nomad.meta["drover.parser"]) == "JSON"`, true, false},
}

func TestConditionsNativeAndVMAgree(t *testing.T) {
	e := testEvent()
	for _, c := range conditions {
		p, err := CompileCondition(c.src)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if p.Native() != c.native {
			t.Errorf("%s: native=%v, want %v", c.src, p.Native(), c.native)
		}
		got, err := p.Match(e)
		if err != nil || got != c.want {
			t.Errorf("%s: got %v, %v; want %v", c.src, got, err, c.want)
		}
		// The same expression on the virtual machine gives the same answer.
		out, err := p.run(e)
		if err != nil || out != c.want {
			t.Errorf("%s on the VM: got %v, %v; want %v", c.src, out, err, c.want)
		}
	}
}

func TestCompileErrorsNameTheProblem(t *testing.T) {
	for src, want := range map[string]string{
		``:                          "empty",
		`level ==`:                  "unexpected",
		`message matches "(("`:      "missing closing",
		`level + 1`:                 "", // any-typed: fine as a value, not as a condition
		`strings.Repeat("x", 1000)`: "",
	} {
		_, err := CompileCondition(src)
		if want == "" {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one mentioning %q", src, err, want)
		}
	}
	if _, err := CompileCondition(`"a"`); err == nil {
		t.Error("a string is not a condition")
	}
}

func TestEvalValues(t *testing.T) {
	e := testEvent()
	for src, want := range map[string]string{
		`nomad.namespace + "/" + nomad.job_name`: "prod/api",
		`status * 2`:                             "1006",
		`upper(level)`:                           "DEBUG",
		`missing`:                                "",
		`level == "debug" ? "d" : "x"`:           "d",
	} {
		p, err := Compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		v, err := p.Eval(e)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := string(v.AppendText(nil)); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
}

func TestNativeConditionsDoNotAllocate(t *testing.T) {
	e := testEvent()
	for _, src := range []string{`nomad.namespace == "prod" && message contains "logged"`, `level in ["debug","trace"]`, `message matches "level=debug"`} {
		p, err := CompileCondition(src)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = p.Match(e) }); n != 0 {
			t.Errorf("%s: %v allocations per event", src, n)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	e := testEvent()
	for _, c := range []struct{ name, src string }{
		{"field_eq", `nomad.namespace == "prod"`},
		{"and_contains", `nomad.namespace == "prod" && message contains "level=debug"`},
		{"regex", `message matches "level=(debug|trace)"`},
		{"vm_lower", `lower(level) == "debug"`},
		{"vm_concat", `nomad.namespace + "-" + nomad.job_name == "prod-api"`},
	} {
		p, err := CompileCondition(c.src)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, _ := p.Match(e); !ok {
					b.Fatal("no match")
				}
			}
		})
	}
}
