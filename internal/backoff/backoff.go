// Package backoff computes the waits between retries of a failing
// connection or process (a Nomad watch, an event stream, journalctl), and
// waits them out unless the context ends.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is an exponential wait with "equal jitter": the n-th wait of a
// run of failures is random in [d/2, d], where d = min(Initial*2^(n-1),
// Max). The jitter keeps many drovers from retrying in lockstep after the
// same outage. The zero value of the run state is a fresh start.
type Backoff struct {
	Initial, Max time.Duration
	failures     int
}

// Next counts a failure and returns how long to wait before the next
// attempt.
func (b *Backoff) Next() time.Duration {
	b.failures++
	d := b.Initial
	for i := 1; i < b.failures && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(d-half+1)
}

// Failures is the number of failures in the current run.
func (b *Backoff) Failures() int { return b.failures }

// Reset ends a run of failures and returns how many it had.
func (b *Backoff) Reset() int {
	n := b.failures
	b.failures = 0
	return n
}

// Sleep waits d or until ctx ends; it reports whether the full wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
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
