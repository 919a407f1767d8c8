package discovery

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSuperviseRunsAgainAndMarksFullSets(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runs := 0
	run := func(ctx context.Context, up chan<- int) error {
		runs++
		if runs <= 2 {
			return errors.New("forbidden")
		}
		for i := 0; i < 2; i++ {
			select {
			case up <- runs*10 + i:
			case <-ctx.Done():
				return nil
			}
		}
		<-ctx.Done()
		return nil
	}
	type got struct {
		v     int
		first bool
	}
	var sent []got
	var failures []bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		Supervise(ctx, run, func(v int, first bool) bool {
			sent = append(sent, got{v, first})
			if len(sent) == 2 {
				cancel()
			}
			return true
		}, func(err error, again bool) time.Duration {
			failures = append(failures, again)
			return time.Millisecond
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Supervise did not return after ctx ended")
	}
	if len(failures) != 2 || failures[0] || !failures[1] {
		t.Fatalf("failures %v: want the first logged, the repeat not", failures)
	}
	if len(sent) != 2 || sent[0] != (got{30, true}) || sent[1] != (got{31, false}) {
		t.Fatalf("sent %v", sent)
	}
}
