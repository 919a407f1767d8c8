package retry

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/sink/batch"
)

func TestClassification(t *testing.T) {
	base := errors.New("boom")
	if Permanent(nil) != nil || After(nil, time.Second) != nil {
		t.Fatal("wrapping nil must give nil")
	}
	perm := fmt.Errorf("sending batch to x: %w", Permanent(base))
	if !IsPermanent(perm) || !errors.Is(perm, base) {
		t.Fatalf("IsPermanent(%v) = false or chain broken", perm)
	}
	if IsPermanent(base) {
		t.Fatal("plain error classified permanent")
	}
	after := fmt.Errorf("ctx: %w", After(base, 3*time.Second))
	if d, ok := Delay(after); !ok || d != 3*time.Second {
		t.Fatalf("Delay = %v, %v", d, ok)
	}
	if IsPermanent(after) {
		t.Fatal("After error classified permanent")
	}
	if _, ok := Delay(base); ok {
		t.Fatal("Delay of a plain error")
	}
	pe := &PartialError{Outcomes: []batch.Outcome{batch.Accepted, batch.Refused, batch.Retry, batch.Retry}, Err: After(base, time.Second)}
	if got := pe.Error(); got != "1 of 4 events refused, 2 to retry: boom" {
		t.Fatalf("PartialError.Error() = %q", got)
	}
	if d, ok := Delay(pe); !ok || d != time.Second {
		t.Fatalf("Delay through PartialError = %v, %v", d, ok)
	}
}

func TestBackoffBounds(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	ceilings := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, c := range ceilings {
		attempt := i + 1
		ceil := c * time.Millisecond
		var maxSeen time.Duration
		for range 2000 {
			d := b.Delay(attempt)
			if d < 0 || d >= ceil {
				t.Fatalf("Delay(%d) = %v outside [0, %v)", attempt, d, ceil)
			}
			maxSeen = max(maxSeen, d)
		}
		// Full jitter uses the whole range: 2000 draws come near the top.
		if maxSeen < ceil*9/10 {
			t.Fatalf("Delay(%d) never above %v of [0, %v)", attempt, maxSeen, ceil)
		}
	}
	if d := (Backoff{Initial: time.Hour, Max: time.Hour}).Delay(1000); d >= time.Hour {
		t.Fatalf("huge attempt overflowed: %v", d)
	}
	if d := (Backoff{}).Delay(3); d != 0 {
		t.Fatalf("zero backoff = %v", d)
	}
}
