package filter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform/transformtest"
)

func newFilter(t testing.TB, cond string) (*Filter, *transformtest.Collector, func(string) float64) {
	t.Helper()
	cfg := &Config{Condition: cond}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, _ := transformtest.Context(Type)
	return New(ctx, cfg), &transformtest.Collector{}, func(r string) float64 { return transformtest.Discarded(ctx, r) }
}

func TestFilterKeepsMatchesAndCountsTheRest(t *testing.T) {
	f, out, discarded := newFilter(t, `!(nomad.namespace == "dev" && message contains "DEBUG")`)
	dev, prod := transformtest.Meta("dev", "api"), transformtest.Meta("prod", "api")
	evs := append(transformtest.Events(dev, "DEBUG a", "INFO b"), transformtest.Events(prod, "DEBUG c")...)
	res, err := transformtest.Process(f, out, evs...)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(out.Messages()); got != "[INFO b DEBUG c]" {
		t.Fatalf("kept %s", got)
	}
	if n := discarded("filtered"); n != 1 {
		t.Fatalf("discarded %v, want 1", n)
	}
	if done, _ := res.Done(); done {
		t.Fatal("acknowledged before the consumer released the kept events")
	}
	out.Release(event.Delivered)
	if done, ok := res.Done(); !done || !ok {
		t.Fatal("the batch with a dropped event must be acknowledged as delivered")
	}
}

func TestFilterPassesAWholeBatchAsItIs(t *testing.T) {
	f, out, _ := newFilter(t, `message != ""`)
	b, _ := transformtest.Batch(transformtest.Events(transformtest.Meta("prod", "api"), "a", "b")...)
	if err := f.Process(t.Context(), b, out); err != nil {
		t.Fatal(err)
	}
	if got := out.Batches(); len(got) != 1 || got[0] != b {
		t.Fatal("a batch whose events all pass must be passed on without a copy")
	}
}

func TestFilterAllDroppedIsAcknowledged(t *testing.T) {
	f, out, discarded := newFilter(t, `false`)
	res, _ := transformtest.Process(f, out, transformtest.Events(transformtest.Meta("p", "j"), "a", "b")...)
	if done, ok := res.Done(); !done || !ok || discarded("filtered") != 2 || len(out.Events()) != 0 {
		t.Fatal("dropping every event must acknowledge the batch and count both")
	}
}

func TestFilterConfigError(t *testing.T) {
	_, err := config.Load("f.hcl", []byte(`
source "stdin_test" "s" {}
transform "filter" "f" {
  inputs    = ["s"]
  condition = "level =="
}
`), func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "f.hcl:5,") || !strings.Contains(err.Error(), "condition") {
		t.Fatalf("a broken condition must be reported at its line: %v", err)
	}
}

func BenchmarkFilter(b *testing.B) {
	m := transformtest.Meta("prod", "api")
	msgs := make([]string, 512)
	for i := range msgs {
		msgs[i] = fmt.Sprintf(`{"level":"info","msg":"request %d served","status":200}`, i)
	}
	evs := transformtest.Events(m, msgs...)
	for _, c := range []struct{ name, cond string }{
		{"keep_all_field_eq", `nomad.namespace == "prod"`},
		{"drop_half_contains", `message contains "1 served" || message contains "3 served" || nomad.namespace == "dev"`},
		{"regex", `message matches "request \\d+ served"`},
		{"vm", `lower(nomad.namespace) == "prod"`},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, _, _ := newFilter(b, c.cond)
			transformtest.Bench(b, f, &transformtest.Sink{}, evs)
		})
	}
}
