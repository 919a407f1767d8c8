package nomad

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff computes exponentially growing waits with jitter between
// failed requests: the n-th wait of a streak is a random duration in
// [d/2, d] where d = min(initial * 2^(n-1), max).
type backoff struct {
	initial, max time.Duration
	failures     int
}

// next counts a failure and returns how long to wait before retrying.
func (b *backoff) next() time.Duration {
	b.failures++
	d := b.initial
	for i := 1; i < b.failures && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	half := d / 2
	return half + rand.N(d-half+1)
}

// reset ends a failure streak and returns its length.
func (b *backoff) reset() int {
	n := b.failures
	b.failures = 0
	return n
}

// sleep waits d or until ctx ends; it reports whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
