package backoff

import (
	"context"
	"testing"
	"time"
)

func TestNextDoublesWithinJitterUpToMax(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	for i, step := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		step *= time.Millisecond
		for range 50 { // the jitter is random: many draws per step
			d := b.Next()
			if d < step/2 || d > step {
				t.Fatalf("wait %d = %v, want within [%v, %v]", i+1, d, step/2, step)
			}
			b.failures-- // draw the same step again
		}
		b.failures++
	}
	if n := b.Reset(); n != 6 {
		t.Fatalf("Reset = %d, want 6 failures", n)
	}
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("first wait after Reset = %v", d)
	}
}

func TestNextWithTinyInitial(t *testing.T) {
	b := Backoff{Initial: time.Nanosecond, Max: time.Nanosecond}
	if d := b.Next(); d != time.Nanosecond {
		t.Fatalf("wait = %v", d)
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("a full wait reported as cut short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) || Sleep(ctx, 0) {
		t.Fatal("an ended context reported as a full wait")
	}
}
