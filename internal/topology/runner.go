package topology

import (
	"context"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
)

const maxRestartDelay = time.Minute

// sourceRunner runs one source instance.
type sourceRunner struct {
	id     string
	src    component.Source
	ctx    component.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *sourceRunner) start(out *router, opts Options) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		delay := opts.RestartDelay
		for {
			err := s.src.Run(ctx, out)
			if ctx.Err() != nil {
				return
			}
			s.ctx.Metrics.Errors("run").Inc()
			s.ctx.Logger.Error("source stopped; restarting", "error", err, "delay", delay)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			delay = min(2*delay, maxRestartDelay)
		}
	}()
}

// stop makes the source stop reading and waits for Run to return.
func (s *sourceRunner) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
}

// close lets the source wait for its acknowledgements and persist them.
func (s *sourceRunner) close(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.src.Close(ctx); err != nil {
		s.ctx.Metrics.Errors("close").Inc()
		s.ctx.Logger.Error("closing source", "error", err)
	}
}

// sinkRunner runs one sink instance and owns its queue.
type sinkRunner struct {
	id     string
	sink   component.Sink
	ctx    component.Context
	q      *queue
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *sinkRunner) start(opts Options) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = make(chan struct{})
	if hc, ok := s.sink.(component.Healthchecker); ok {
		go func() {
			hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
			defer hcancel()
			if err := hc.Healthcheck(hctx); err != nil {
				if ctx.Err() == nil {
					s.ctx.Logger.Warn("healthcheck failed; events are kept and retried", "error", err)
				}
				return
			}
			s.ctx.Logger.Debug("healthcheck passed")
		}()
	}
	go func() {
		defer close(s.done)
		delay := opts.RestartDelay
		for {
			err := s.sink.Run(ctx, s.q.ch)
			if err == nil || ctx.Err() != nil {
				return
			}
			// Run gave up before its input was closed; the queue still
			// holds batches, so run it again.
			s.ctx.Metrics.Errors("run").Inc()
			s.ctx.Logger.Error("sink stopped; restarting", "error", err, "delay", delay)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			delay = min(2*delay, maxRestartDelay)
		}
	}()
}

// stop closes the sink's input and waits until it delivered what it holds.
// After timeout the sink is cancelled: it releases what is left as Failed.
func (s *sinkRunner) stop(timeout time.Duration) {
	s.q.retire()
	if s.done == nil {
		return
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-s.done:
	case <-timer.C:
		s.ctx.Logger.Warn("shutdown timeout reached; abandoning undelivered events (they stay unacknowledged and are read again after restart)",
			"timeout", timeout, "events", s.q.inUse())
		s.cancel()
		<-s.done
	}
	s.cancel()
	// The queue is retired (closed); batches the sink never took are
	// released here so their sources do not wait for them.
	for b := range s.q.ch {
		b.Ack.Release(event.Failed)
	}
}
