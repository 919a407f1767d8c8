package route

import (
	"fmt"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform/transformtest"
)

func newRouter(t testing.TB, routes ...Route) (*Router, map[string]*transformtest.Collector, component.Context) {
	t.Helper()
	cfg := &Config{Routes: routes}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	names := []string{Unmatched}
	for _, r := range routes {
		names = append(names, r.Name)
	}
	ctx, cols := transformtest.Context(Type, names...)
	r, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, cols, ctx
}

func TestRouteSendsEachEventToEveryMatchingOutput(t *testing.T) {
	r, outs, _ := newRouter(t,
		Route{Name: "jobs", Condition: `topic == "Job"`},
		Route{Name: "important", Condition: `topic == "Job" || topic == "Deployment"`},
	)
	mk := func(topic string) event.Event {
		return event.Event{Message: []byte(topic), Fields: event.NewFields(event.Field{Key: "topic", Value: event.StringValue(topic)})}
	}
	res, err := transformtest.Process(r, nil, mk("Job"), mk("Node"), mk("Deployment"), mk("Allocation"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"jobs": "[Job]", "important": "[Job Deployment]", Unmatched: "[Node Allocation]"} {
		if got := fmt.Sprint(outs[name].Messages()); got != want {
			t.Errorf("%s got %s, want %s", name, got, want)
		}
	}
	outs["jobs"].Release(event.Delivered)
	outs[Unmatched].Release(event.Delivered)
	if done, _ := res.Done(); done {
		t.Fatal("acknowledged before every output's consumer released it")
	}
	outs["important"].Release(event.Delivered)
	if done, ok := res.Done(); !done || !ok {
		t.Fatal("not acknowledged after every output's consumer released it")
	}
}

func TestRouteCountsEventsOfOutputsNobodyReads(t *testing.T) {
	r, outs, ctx := newRouter(t, Route{Name: "errors", Condition: `message contains "ERROR"`})
	outs[Unmatched].Unconsumed = true
	res, _ := transformtest.Process(r, nil, transformtest.Events(transformtest.Meta("p", "j"), "ERROR x", "INFO y", "INFO z")...)
	if n := transformtest.Discarded(ctx, "unmatched"); n != 2 {
		t.Fatalf("unmatched discards %v, want 2", n)
	}
	outs["errors"].Release(event.Delivered)
	if done, ok := res.Done(); !done || !ok {
		t.Fatal("batch not acknowledged")
	}
}

func TestRouteNamesAreChecked(t *testing.T) {
	for _, rs := range [][]Route{
		nil,
		{{Name: "_x", Condition: "true"}},
		{{Name: "a", Condition: "true"}, {Name: "a", Condition: "false"}},
		{{Name: "a", Condition: "1 +"}},
	} {
		if err := (&Config{Routes: rs}).Validate(); err == nil {
			t.Errorf("%v: no error", rs)
		}
	}
}

func BenchmarkRoute(b *testing.B) {
	m := transformtest.Meta("prod", "api")
	msgs := make([]string, 512)
	for i := range msgs {
		msgs[i] = fmt.Sprintf(`{"level":"info","msg":"request %d served","status":200}`, i)
	}
	evs := transformtest.Events(m, msgs...)
	r, outs, _ := newRouter(b,
		Route{Name: "prod", Condition: `nomad.namespace == "prod"`},
		Route{Name: "dev", Condition: `nomad.namespace == "dev"`},
	)
	_ = outs
	// Emit into sinks that release at once.
	for i := range r.routes {
		r.routes[i].out = &transformtest.Sink{}
	}
	r.unmatched.out = &transformtest.Sink{}
	transformtest.Bench(b, r, nil, evs)
}
