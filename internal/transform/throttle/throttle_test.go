package throttle

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform/transformtest"
)

func newThrottle(t testing.TB, c *Config) (*Throttle, component.Context, *time.Time) {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, _ := transformtest.Context(Type)
	th, err := New(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1000, 0)
	th.now = func() time.Time { return clock }
	return th, ctx, &clock
}

func TestThrottlePerKey(t *testing.T) {
	c := NewConfig()
	c.Threshold, c.Window, c.KeyField = 2, time.Second, "{{ nomad.job_name }}"
	c.Exclude = `message contains "ERROR"`
	th, ctx, clock := newThrottle(t, c)
	api, web := transformtest.Meta("p", "api"), transformtest.Meta("p", "web")
	out := &transformtest.Collector{}
	evs := append(transformtest.Events(api, "a1", "a2", "a3", "ERROR a4", "a5"), transformtest.Events(web, "w1")...)
	res, _ := transformtest.Process(th, out, evs...)
	if got := fmt.Sprint(out.Messages()); got != "[a1 a2 ERROR a4 w1]" {
		t.Fatalf("kept %s", got)
	}
	if n := transformtest.Discarded(ctx, "throttled"); n != 2 {
		t.Fatalf("throttled %v", n)
	}
	if n := testutil.ToFloat64(th.discards.KeyCounter("throttled", "api")); n != 2 {
		t.Fatalf("throttled for key api: %v", n)
	}
	out.Release(event.Delivered)
	if done, ok := res.Done(); !done || !ok {
		t.Fatal("batch not acknowledged")
	}
	// Half a window later one token is back.
	*clock = clock.Add(500 * time.Millisecond)
	out2 := &transformtest.Collector{}
	transformtest.Process(th, out2, transformtest.Events(api, "b1", "b2")...)
	if got := fmt.Sprint(out2.Messages()); got != "[b1]" {
		t.Fatalf("after half a window: %s", got)
	}
}

func TestKeysPastTheLimitShareOneBucket(t *testing.T) {
	c := NewConfig()
	c.Threshold, c.KeyField, c.MaxKeys = 1, "{{ nomad.job_name }}", 1
	th, _, _ := newThrottle(t, c)
	out := &transformtest.Collector{}
	evs := append(transformtest.Events(transformtest.Meta("p", "a"), "a1"), transformtest.Events(transformtest.Meta("p", "b"), "b1")...)
	evs = append(evs, transformtest.Events(transformtest.Meta("p", "c"), "c1")...)
	transformtest.Process(th, out, evs...)
	if got := fmt.Sprint(out.Messages()); got != "[a1 b1]" {
		t.Fatalf("kept %s", got)
	}
}

func BenchmarkThrottle(b *testing.B) {
	c := NewConfig()
	c.Threshold, c.KeyField = 1<<30, "{{ nomad.namespace }}/{{ nomad.job_name }}"
	th, _, _ := newThrottle(b, c)
	msgs := make([]string, 512)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("request %d served", i)
	}
	transformtest.Bench(b, th, &transformtest.Sink{}, transformtest.Events(transformtest.Meta("prod", "api"), msgs...))
}
