package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/drover-dev/drover/bench/proc"
)

// WaitForLoad polls the 1-minute load average every poll until it is below
// limit, for at most maxWait. It returns the last load average seen and
// whether it got below limit.
func WaitForLoad(ctx context.Context, limit float64, poll, maxWait time.Duration, logf func(string, ...any)) ([3]float64, bool, error) {
	deadline := time.Now().Add(maxWait)
	for {
		l, err := proc.LoadAverage()
		if err != nil {
			return l, false, err
		}
		if l[0] < limit {
			return l, true, nil
		}
		if time.Now().After(deadline) {
			return l, false, nil
		}
		logf("load average %.2f %.2f %.2f, waiting for the 1-minute one to drop below %.2f (until %s)",
			l[0], l[1], l[2], limit, deadline.Format("15:04:05"))
		select {
		case <-ctx.Done():
			return l, false, fmt.Errorf("waiting for a quiet machine: %w", ctx.Err())
		case <-time.After(poll):
		}
	}
}
