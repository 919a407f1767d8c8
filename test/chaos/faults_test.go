package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/nomadtest"
)

// faultOptions are the fault driver's rates.
type faultOptions struct {
	seed uint64
	// killEvery is the mean time a drover process runs before it is
	// killed (or, one time in ten, stopped with SIGTERM).
	killEvery time.Duration
	// sinkEvery and apiEvery are the mean pauses between two faults of
	// the sink and of the Nomad API; reloadEvery between two reloads.
	sinkEvery   time.Duration
	apiEvery    time.Duration
	reloadEvery time.Duration
}

// faults drives the faults. Each kind has its own goroutine and its own
// random sequence derived from the seed, so that a seed replays the same
// faults, in the same order, with the same parameters (their timing
// relative to the writers follows the machine).
type faults struct {
	o    faultOptions
	sup  *supervisor
	recv *receiver
	srv  *nomadtest.Server
	cfg  func(rng *rand.Rand) string // a new drover configuration
	fail func(string)
	logf func(format string, args ...any)

	mu          sync.Mutex
	sinkOutages int
	apiOutages  int
}

// run injects faults until ctx ends, then clears them.
func (f *faults) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i, fn := range []func(context.Context, *rand.Rand){f.killer, f.sink, f.api, f.reloader} {
		rng := rand.New(rand.NewPCG(f.o.seed, uint64(100+i)))
		wg.Add(1)
		go func() { defer wg.Done(); fn(ctx, rng) }()
	}
	wg.Wait()
	if err := f.recv.setMode(sinkMode{}); err != nil {
		f.fail(err.Error())
	}
	f.srv.ClearFaults()
	f.srv.Up()
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func expDuration(rng *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(rng.ExpFloat64() * float64(mean))
}

func uniform(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
}

// killer kills drover at random moments (also while it starts, recovers
// its buffer or catches up), and starts it again after a random pause with
// a new configuration.
func (f *faults) killer(ctx context.Context, rng *rand.Rand) {
	for {
		if !sleep(ctx, expDuration(rng, f.o.killEvery)) {
			return
		}
		// SIGTERM only to a process that has started (see started); one
		// still starting is killed.
		if rng.IntN(10) == 0 && f.sup.started() != nil {
			code, err := f.sup.stop(30 * time.Second)
			if err != nil || code != 0 {
				f.fail(fmt.Sprintf("drover stopped with SIGTERM: exit code %d, %v", code, err))
			}
		} else {
			f.sup.kill()
		}
		down := uniform(rng, 0, time.Second)
		if rng.IntN(5) == 0 {
			down = uniform(rng, time.Second, 5*time.Second)
		}
		sleep(ctx, down)
		cfg := f.cfg(rng)
		if ctx.Err() != nil {
			return // the final process is started by the caller
		}
		if err := f.sup.start(cfg); err != nil {
			f.fail(err.Error())
			return
		}
	}
}

// sink makes the receiver refuse connections, answer 503 or 429 (with or
// without Retry-After), answer slowly (longer than drover's request
// timeout at times), or take the events and drop the connection.
func (f *faults) sink(ctx context.Context, rng *rand.Rand) {
	for {
		if !sleep(ctx, expDuration(rng, f.o.sinkEvery)) {
			return
		}
		var m sinkMode
		switch rng.IntN(5) {
		case 0:
			m.down = true
		case 1:
			m.status = 503
			if rng.IntN(2) == 0 {
				m.retryAfter = "1"
			}
		case 2:
			m.status, m.retryAfter = 429, "0"
		case 3:
			m.delay = uniform(rng, 200*time.Millisecond, 3*time.Second)
		case 4:
			m.dropAfterRead = true
		}
		d := uniform(rng, 300*time.Millisecond, 8*time.Second)
		if err := f.recv.setMode(m); err != nil {
			f.fail(err.Error())
			return
		}
		f.logf("sink fault for %v: %+v", d, m)
		f.mu.Lock()
		f.sinkOutages++
		f.mu.Unlock()
		sleep(ctx, d)
		if err := f.recv.setMode(sinkMode{}); err != nil {
			f.fail(err.Error())
			return
		}
		f.logf("sink fault over")
	}
}

// api makes the Nomad API fail: errors, dropped and cut connections,
// dropped blocking queries, slow answers, and the agent down for a while.
func (f *faults) api(ctx context.Context, rng *rand.Rand) {
	eps := []nomadtest.Endpoint{nomadtest.EndpointNodeAllocations, nomadtest.EndpointAllocation,
		nomadtest.EndpointAgentSelf, nomadtest.EndpointNode}
	for {
		if !sleep(ctx, expDuration(rng, f.o.apiEvery)) {
			return
		}
		ep := eps[rng.IntN(len(eps))]
		f.mu.Lock()
		f.apiOutages++
		f.mu.Unlock()
		kind := rng.IntN(6)
		f.logf("api fault %d on %s", kind, ep)
		switch kind {
		case 0:
			f.srv.Fail(ep, []int{500, 502, 503, 403}[rng.IntN(4)], 1+rng.IntN(20))
		case 1:
			f.srv.InjectFault(ep, nomadtest.Fault{Drop: true}, 2+rng.IntN(4))
		case 2:
			f.srv.InjectFault(ep, nomadtest.Fault{Truncate: true}, 1+rng.IntN(4))
		case 3:
			f.srv.DropBlocking()
		case 4:
			f.srv.InjectFault(ep, nomadtest.Fault{Delay: uniform(rng, 100*time.Millisecond, 3*time.Second)}, 1+rng.IntN(5))
		case 5:
			f.srv.Down()
			sleep(ctx, uniform(rng, 300*time.Millisecond, 10*time.Second))
			f.srv.Up()
			f.logf("api up again")
		}
	}
}

// reloader rewrites the configuration and sends SIGHUP to a process that
// has been running for a while (a SIGHUP before drover installed its
// handler would end it, as for any program).
func (f *faults) reloader(ctx context.Context, rng *rand.Rand) {
	for {
		if !sleep(ctx, expDuration(rng, f.o.reloadEvery)) {
			return
		}
		cfg := f.cfg(rng)
		if !f.sup.upFor(2 * time.Second) {
			continue
		}
		if err := f.sup.reload(cfg); err != nil {
			f.fail(err.Error())
		}
		f.logf("reloaded")
	}
}

// outages returns the sink and API faults injected.
func (f *faults) outages() (sink, api int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sinkOutages, f.apiOutages
}
