package sample

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform/transformtest"
)

func newSampler(t testing.TB, c *Config) *Sampler {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, _ := transformtest.Context(Type)
	s, err := New(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSampleKeepsOneInRatePerKeyAndEveryError(t *testing.T) {
	c := NewConfig()
	c.Rate, c.KeyField, c.Exclude = 3, "{{ nomad.job_name }}", `level == "error"`
	s := newSampler(t, c)
	api, web := transformtest.Meta("p", "api"), transformtest.Meta("p", "web")
	evs := append(transformtest.Events(api, "a0", "a1", "a2", "a3", "a4"), transformtest.Events(web, "w0", "w1")...)
	errLine := transformtest.Events(api, "boom")[0]
	errLine.Fields = event.NewFields(event.Field{Key: "level", Value: event.StringValue("error")})
	evs = append(evs, errLine)
	out := &transformtest.Collector{}
	res, _ := transformtest.Process(s, out, evs...)
	if got := fmt.Sprint(out.Messages()); got != "[a0 a3 w0 boom]" {
		t.Fatalf("kept %s", got)
	}
	if n := testutil.ToFloat64(s.discards.KeyCounter("sampled", "api")); n != 3 {
		t.Fatalf("sampled for api: %v", n)
	}
	out.Release(event.Delivered)
	if done, ok := res.Done(); !done || !ok {
		t.Fatal("batch not acknowledged")
	}
}

func BenchmarkSample(b *testing.B) {
	c := NewConfig()
	c.Rate, c.KeyField = 10, "{{ nomad.job_name }}"
	s := newSampler(b, c)
	msgs := make([]string, 512)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("request %d served", i)
	}
	transformtest.Bench(b, s, &transformtest.Sink{}, transformtest.Events(transformtest.Meta("prod", "api"), msgs...))
}
