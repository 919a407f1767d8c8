package dedupe

import (
	"fmt"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform/transformtest"
)

func newDedupe(t testing.TB, set func(*Config)) (*Dedupe, component.Context, *time.Time) {
	t.Helper()
	c := NewConfig()
	set(c)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, _ := transformtest.Context(Type)
	d := New(ctx, c)
	clock := time.Unix(1000, 0)
	d.now = func() time.Time { return clock }
	return d, ctx, &clock
}

func TestDedupe(t *testing.T) {
	d, ctx, clock := newDedupe(t, func(c *Config) { c.Window = time.Minute })
	a, b := transformtest.Meta("p", "a"), transformtest.Meta("p", "b")
	out := &transformtest.Collector{}
	evs := append(transformtest.Events(a, "x", "y", "x"), transformtest.Events(b, "x")...)
	res, _ := transformtest.Process(d, out, evs...)
	if got := fmt.Sprint(out.Messages()); got != "[x y x]" {
		t.Fatalf("kept %s (another stream's x is not a duplicate)", got)
	}
	if transformtest.Discarded(ctx, "duplicate") != 1 {
		t.Fatal("duplicate not counted")
	}
	out.Release(event.Delivered)
	if done, ok := res.Done(); !done || !ok {
		t.Fatal("batch not acknowledged")
	}
	*clock = clock.Add(time.Minute)
	out = &transformtest.Collector{}
	transformtest.Process(d, out, transformtest.Events(a, "x")...)
	if len(out.Events()) != 1 {
		t.Fatal("an event seen longer ago than the window is not a duplicate")
	}
}

func TestCacheSizeBoundsMemory(t *testing.T) {
	d, _, _ := newDedupe(t, func(c *Config) { c.CacheSize = 2; c.AcrossStreams = true })
	out := &transformtest.Collector{}
	m := transformtest.Meta("p", "a")
	transformtest.Process(d, out, transformtest.Events(m, "1", "2", "3", "1", "3")...)
	if got := fmt.Sprint(out.Messages()); got != "[1 2 3 1]" {
		t.Fatalf("kept %s", got)
	}
	if len(d.seen) != 2 {
		t.Fatalf("remembers %d events", len(d.seen))
	}
}

func BenchmarkDedupe(b *testing.B) {
	d, _, _ := newDedupe(b, func(c *Config) {})
	msgs := make([]string, 512)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("request %d served", i%400)
	}
	transformtest.Bench(b, d, &transformtest.Sink{}, transformtest.Events(transformtest.Meta("prod", "api"), msgs...))
}
