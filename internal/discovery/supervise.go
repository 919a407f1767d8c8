package discovery

import (
	"context"
	"time"
)

// Supervise runs run (a Discoverer's Run, or a watch like it) until ctx
// ends: every value it sends is handed to deliver, with first set on the
// first send of each run (a full set); deliver returns false when ctx
// ended. When run returns before ctx ended (with an error, or nil), failed
// is told (again says that the previous run failed with the same message:
// log it once) and returns how long to wait before running it again.
// Supervise returns when ctx ends, after run returned.
func Supervise[G any](ctx context.Context, run func(context.Context, chan<- G) error,
	deliver func(g G, first bool) bool, failed func(err error, again bool) time.Duration) {
	lastErr := ""
	for {
		up := make(chan G)
		done := make(chan error, 1)
		go func() { done <- run(ctx, up) }()
		first := true
		var err error
	relay:
		for {
			select {
			case g := <-up:
				if !deliver(g, first) {
					<-done
					return
				}
				first = false
			case err = <-done:
				break relay
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errStopped
		}
		msg := err.Error()
		wait := failed(err, msg == lastErr)
		lastErr = msg
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

type stoppedError struct{}

func (stoppedError) Error() string { return "the discoverer stopped" }

var errStopped error = stoppedError{}
