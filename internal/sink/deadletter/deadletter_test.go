package deadletter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

// output is a component.Emitter that keeps the batches it gets and
// releases them with status, as a consumer would once it delivered them.
type output struct {
	got    []*event.Batch
	status event.Status
	err    error
}

func (o *output) Emit(_ context.Context, b *event.Batch) error {
	if o.err != nil {
		b.Ack.Retain(1)
		b.Ack.Release(event.Failed) // what the router does when a consumer did not take it
		return o.err
	}
	o.got = append(o.got, b)
	b.Ack.Retain(1)
	b.Ack.Release(o.status)
	return nil
}

func refusedEvents() []*event.Event {
	meta := event.NewMeta("src", event.NewFields(event.Field{Key: "host", Value: event.StringValue("node-1")}))
	return []*event.Event{
		{Timestamp: time.Unix(1700000000, 0), Message: []byte("bad one"), Meta: meta,
			Fields: event.NewFields(event.Field{Key: "level", Value: event.StringValue("warn")})},
		{Timestamp: time.Unix(1700000001, 0), Message: []byte("bad two"), Meta: meta, Flags: event.Truncated},
	}
}

func TestWriteEmitsTheEventsWithTheirRefusal(t *testing.T) {
	out := &output{}
	w := New(component.Context{ID: "es", Outputs: map[string]component.Emitter{Output: out}})
	now := time.Unix(1800000000, 0)
	w.now = func() time.Time { return now }
	evs := refusedEvents()
	var verdict []bool
	w.Write(context.Background(), evs, func(i int) Refusal {
		if i == 0 {
			return Refusal{Reason: "mapper_parsing_exception", Err: errors.New("failed to parse [level]"), Status: 400}
		}
		return Refusal{Reason: "too_large"}
	}, func(ok bool) { verdict = append(verdict, ok) })
	if len(verdict) != 1 || !verdict[0] {
		t.Fatalf("done called %v", verdict)
	}
	if len(out.got) != 1 || len(out.got[0].Events) != 2 {
		t.Fatalf("emitted %+v", out.got)
	}
	first, second := out.got[0].Events[0], out.got[0].Events[1]
	if string(first.Message) != "bad one" || first.Meta != evs[0].Meta || !first.Timestamp.Equal(evs[0].Timestamp) {
		t.Fatalf("the event is not as it was: %+v", first)
	}
	if v, _ := first.Fields.Lookup("level"); v.Str() != "warn" {
		t.Fatal("the event's own fields are lost")
	}
	if evs[0].Fields.Len() != 1 {
		t.Fatal("the refused event itself was changed")
	}
	dl, _ := first.Fields.Lookup(Field)
	f := dl.Object()
	get := func(k string) event.Value { v, _ := f.Lookup(k); return v }
	if get("sink").Str() != "es" || get("reason").Str() != "mapper_parsing_exception" || get("error").Str() != "failed to parse [level]" ||
		get("status").Int() != 400 || !get("time").Time().Equal(now) {
		t.Fatalf("dead_letter %s", f.AppendJSON(nil))
	}
	dl, _ = second.Fields.Lookup(Field)
	if _, ok := dl.Object().Lookup("error"); ok || second.Flags != event.Truncated {
		t.Fatalf("second dead letter %s flags %v", dl.Object().AppendJSON(nil), second.Flags)
	}
	if _, ok := dl.Object().Lookup("status"); ok {
		t.Fatal("a status of 0 is written")
	}
}

func TestUndeliveredDeadLettersAreReported(t *testing.T) {
	for name, out := range map[string]*output{
		"consumer gave up":     {status: event.Failed},
		"not taken (stopping)": {err: context.Canceled},
	} {
		t.Run(name, func(t *testing.T) {
			m := metrics.ForTest("sink", "es", "es")
			w := New(component.Context{ID: "es", Metrics: m, Outputs: map[string]component.Emitter{Output: out}})
			var verdict []bool
			w.Write(context.Background(), refusedEvents(), func(int) Refusal { return Refusal{Reason: "x"} },
				func(ok bool) { verdict = append(verdict, ok) })
			if len(verdict) != 1 || verdict[0] {
				t.Fatalf("done called %v", verdict)
			}
			if got := testutil.ToFloat64(m.Errors("dead_letter")); got != 1 {
				t.Fatalf("errors{stage=dead_letter} = %v", got)
			}
		})
	}
}

func TestWithoutAnOutputWriteSucceeds(t *testing.T) {
	var verdict []bool
	New(component.Context{ID: "es"}).Write(context.Background(), refusedEvents(), func(int) Refusal { return Refusal{} },
		func(ok bool) { verdict = append(verdict, ok) })
	if len(verdict) != 1 || !verdict[0] {
		t.Fatalf("done called %v", verdict)
	}
	if got := Outputs(nil); len(got) != 1 || got[0] != "dead_letter" {
		t.Fatalf("Outputs = %v", got)
	}
}

type testConfig struct{}

func (*testConfig) Validate() error { return nil }

type testSink struct{ component.Sink }

func TestRegisterSinkOffersTheDeadLetterOutput(t *testing.T) {
	RegisterSink("deadletter_test", func() *testConfig { return &testConfig{} },
		func(component.Context, *testConfig) (*testSink, error) { return &testSink{}, nil })
	reg, ok := component.Lookup(component.KindSink, "deadletter_test")
	if !ok || len(reg.Outputs(reg.NewConfig())) != 1 || reg.Outputs(nil)[0] != Output {
		t.Fatalf("registration %+v", reg)
	}
	if s, err := reg.BuildSink(component.Context{}, reg.NewConfig()); err != nil || s == nil {
		t.Fatalf("BuildSink = %v, %v", s, err)
	}
	if _, err := reg.BuildSink(component.Context{}, nil); err == nil {
		t.Fatal("a configuration of another type was taken")
	}
}
