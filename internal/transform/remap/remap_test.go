package remap

import (
	"fmt"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform/transformtest"
)

func newRemap(t testing.TB, c *Config) *Remap {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, _ := transformtest.Context(Type)
	return New(ctx, c)
}

func apply(t *testing.T, r *Remap, evs ...event.Event) []event.Event {
	t.Helper()
	out := &transformtest.Collector{}
	if _, err := transformtest.Process(r, out, evs...); err != nil {
		t.Fatal(err)
	}
	return out.Events()
}

func TestOperations(t *testing.T) {
	r := newRemap(t, &Config{
		Copy:   []Move{{From: "nomad.task_name", To: "task"}},
		Rename: []Move{{From: "msg", To: "message"}, {From: "nomad.job_name", To: "job"}},
		Set: []Set{
			{Field: "env", Value: "prod"},
			{Field: "service", Template: "{{ job }}-{{ task }}"},
			{Field: "severity", Expression: `status >= 500 ? "error" : "ok"`},
			{Field: "labels.team", Value: "core"},
			{Field: "nomad.meta.owner", Value: "ana"},
		},
		Delete: []string{"status", "nomad.namespace"},
	})
	m := transformtest.Meta("prod", "api")
	e := transformtest.Events(m, "raw")[0]
	e.Fields = event.NewFields(event.Field{Key: "msg", Value: event.StringValue("hello")}, event.Field{Key: "status", Value: event.IntValue(503)})
	got := apply(t, r, e)[0]
	enc := string(codec.AppendJSON(nil, &got))
	want := `{"timestamp":"2026-12-07T10:00:00Z","message":"hello","task":"server","job":"api","env":"prod","service":"api-server","severity":"error","labels":{"team":"core"},"nomad":{"task_name":"server","meta":{"owner":"ana"}},"source_type":"nomad_logs","stream":"stdout"}`
	if enc != want {
		t.Fatalf("got  %s\nwant %s", enc, want)
	}
	// The stream's metadata is shared, not changed, and the copy without
	// the renamed and deleted fields is made once per stream.
	if v, _ := m.Fields.Get("nomad.namespace"); v.Str() != "prod" {
		t.Fatal("the original metadata was changed")
	}
	two := apply(t, r, transformtest.Events(m, "a", "b")...)
	if two[0].Meta != two[1].Meta || two[0].Meta == m {
		t.Fatal("events of one stream must share one derived metadata")
	}
}

func TestRedact(t *testing.T) {
	c := &Config{Redact: &Redact{}}
	c.Redact.SetDefaults()
	c.Redact.Patterns = append(c.Redact.Patterns, "ipv4")
	c.Redact.Custom = []string{`sess-[0-9a-f]+`}
	c.Redact.Fields = append(c.Redact.Fields, "user.email")
	r := newRemap(t, c)
	e := transformtest.Events(transformtest.Meta("p", "j"),
		`login ana@example.com from 10.1.2.3 card 4111 1111 1111 1111 order 1234567890123 Authorization: Bearer abc.def.ghi password=hunter22 sess-9f8e`)[0]
	e.Fields = event.NewFields(event.Field{Key: "user", Value: event.ObjectValue(event.NewFields(event.Field{Key: "email", Value: event.StringValue("bo@example.org")}))})
	got := apply(t, r, e)[0]
	want := `login [REDACTED] from [REDACTED] card [REDACTED] order 1234567890123 Authorization: Bearer [REDACTED] password=[REDACTED] [REDACTED]`
	if string(got.Message) != want {
		t.Fatalf("got  %s\nwant %s", got.Message, want)
	}
	if v, _ := got.Fields.Get("user.email"); v.Str() != "[REDACTED]" {
		t.Fatalf("field not redacted: %v", v.Str())
	}
}

func TestValidate(t *testing.T) {
	for name, c := range map[string]*Config{
		"empty":          {},
		"two sources":    {Set: []Set{{Field: "a", Value: "x", Template: "y"}}},
		"bad template":   {Set: []Set{{Field: "a", Template: "{{"}}},
		"bad expression": {Set: []Set{{Field: "a", Expression: "1 +"}}},
		"empty segment":  {Delete: []string{"a..b"}},
		"bad pattern":    {Redact: &Redact{Patterns: []string{"ssn"}}},
		"bad custom":     {Redact: &Redact{Custom: []string{"("}}},
	} {
		if c.Validate() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func BenchmarkRemap(b *testing.B) {
	m := transformtest.Meta("prod", "api")
	msgs := make([]string, 512)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("request %d served", i)
	}
	evs := transformtest.Events(m, msgs...)
	b.Run("set_template", func(b *testing.B) {
		r := newRemap(b, &Config{Set: []Set{{Field: "service", Template: "{{ nomad.job_name }}-{{ nomad.task_name }}"}}})
		transformtest.Bench(b, r, &transformtest.Sink{}, evs)
	})
	b.Run("redact_no_match", func(b *testing.B) {
		c := &Config{Redact: &Redact{}}
		c.Redact.SetDefaults()
		r := newRemap(b, c)
		transformtest.Bench(b, r, &transformtest.Sink{}, evs)
	})
	b.Run("redact_match", func(b *testing.B) {
		c := &Config{Redact: &Redact{}}
		c.Redact.SetDefaults()
		r := newRemap(b, c)
		withSecrets := transformtest.Events(m, strings.Split(strings.Repeat("user ana@example.com token=abcdef123|", 512), "|")[:512]...)
		transformtest.Bench(b, r, &transformtest.Sink{}, withSecrets)
	})
}

// The fields and strings a batch got stay as they were while later
// batches reuse the transform's memory.
func TestEarlierBatchesStayIntact(t *testing.T) {
	r := newRemap(t, &Config{Set: []Set{
		{Field: "service", Template: "{{ nomad.job_name }}-{{ n }}"},
		{Field: "labels.n", Template: "{{ n }}"},
		{Field: "message", Template: "m{{ n }}"},
	}})
	m := transformtest.Meta("prod", "api")
	var kept [][]event.Event
	for b := range 300 {
		e := event.Event{Message: []byte("x"), Meta: m, Fields: event.NewFields(event.Field{Key: "n", Value: event.IntValue(int64(b))})}
		kept = append(kept, apply(t, r, e, e))
	}
	for b, evs := range kept {
		for _, e := range evs {
			want := fmt.Sprintf(`"message":"m%d","n":%d,"service":"api-%d","labels":{"n":"%d"}`, b, b, b, b)
			if got := string(codec.AppendJSON(nil, &e)); !strings.Contains(got, want) {
				t.Fatalf("batch %d changed: %s, want %s", b, got, want)
			}
		}
	}
}
