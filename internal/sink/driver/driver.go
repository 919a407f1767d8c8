// Package driver runs a request-based sink: it takes source batches from
// the sink's input, builds requests within the `batch` limits, sends up to
// `request.concurrency` of them at once through the sink's Sender, retries
// transient failures with backoff, and releases every source batch's Ack
// exactly once. A sink supplies how to encode and how to send; everything
// between the input channel and the destination is here.
//
// Wiring a new sink:
//
//	d, err := driver.New(driver.Options{
//		Batch: cfg.Batch, Request: cfg.Request,
//		Encoder: codec.Lines{},        // or nil to build the body in Send
//		Sender:  s,                     // Send(ctx, *batch.Request) error
//		Destination: cfg.URI,
//		Logger: cctx.Logger, Metrics: cctx.Metrics,
//	})
//	...
//	func (s *sink) Run(ctx context.Context, in <-chan *event.Batch) error { return s.d.Run(ctx, in) }
package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// Sender delivers one request to the destination.
//
// Send returns nil when the destination accepted every event of req; an
// error marked with retry.Permanent when it refused the request for good;
// a *retry.PartialError with one outcome per event when it answered event by
// event; any other error when the failure is transient (the request is sent
// again after a backoff; retry.After passes on a delay the destination
// asked for). Send must return promptly when ctx ends (ctx also carries the
// per-attempt timeout). It may be called concurrently for different
// requests, must not modify req, and must not keep req, its Body or its
// events after returning.
type Sender interface {
	Send(ctx context.Context, req *batch.Request) error
}

// SenderFunc adapts a function to the Sender interface.
type SenderFunc func(ctx context.Context, req *batch.Request) error

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, req *batch.Request) error { return f(ctx, req) }

// Options configure a Driver.
type Options struct {
	Batch   batch.Config
	Request RequestConfig
	// Encoder builds each request's Body as events are added; nil leaves
	// Body empty and counts message bytes against max_bytes.
	Encoder batch.Encoder
	Sender  Sender
	// Destination names where requests go, for logs ("http://x/ingest",
	// "/var/log/out/{{ host }}.log").
	Destination string
	// Logger defaults to a logger that discards.
	Logger *slog.Logger
	// Metrics are the sink's instruments. The driver counts events the
	// destination accepted (SentEvents) and the size of their requests
	// (SentBytes: Request.Size, pro rata for partly accepted requests),
	// failed attempts (Errors("send")), attempts sent again (Retries),
	// discarded events (Discarded("rejected"), Discarded("retries_exhausted"))
	// and attempt durations by outcome (RequestDuration "ok", "retry",
	// "rejected", "partial"). Events a partial result refused with a reason
	// of their own (retry.PartialError.Reasons) are counted as
	// Discarded(reason) instead of "rejected". It never touches
	// BufferEvents. Nil counts into a private registry.
	Metrics *metrics.Component
	// Health receives the sink's conditions: "delivery" (failing) while
	// requests fail transiently, "rejections" (degraded) while the
	// destination refuses events. Nil reports nowhere.
	Health *health.Reporter
}

// MaxRetryAfter caps the delay a destination can ask for with Retry-After,
// so that a bogus header cannot stall a sink for hours.
const MaxRetryAfter = 5 * time.Minute

// Discard reasons counted by the driver.
const (
	// ReasonRejected: the destination refused the events for good.
	ReasonRejected = "rejected"
	// ReasonRetriesExhausted: request.retry_max_elapsed ran out.
	ReasonRetriesExhausted = "retries_exhausted"
)

// Driver runs a request-based sink. Build it once with New; Run may be
// called again after it returned (a restarted sink).
type Driver struct {
	opts    Options
	log     *slog.Logger
	backoff retry.Backoff
	m       instruments
	// failing is the streak of transient failures, discarding the streak of
	// requests whose events were discarded; both end with a success.
	failing, discarding *health.Streak
}

type instruments struct {
	sentEvents, sentBytes, retries, sendErrors prometheus.Counter
	rejected, exhausted                        prometheus.Counter
	durOK, durRetry, durRejected, durPartial   prometheus.Observer
}

// New checks the options and returns a Driver.
func New(o Options) (*Driver, error) {
	if o.Sender == nil {
		return nil, errors.New("driver: no Sender")
	}
	if err := ValidateBlocks(o.Batch, o.Request); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.ForTest("sink", "unknown", "unknown")
	}
	m := o.Metrics
	log := o.Logger.With("destination", o.Destination)
	return &Driver{
		opts:       o,
		log:        log,
		failing:    health.NewStreak(health.StreakConfig{Logger: log, Health: o.Health, Condition: health.ConditionDelivery}),
		discarding: health.NewStreak(health.StreakConfig{Logger: log, Health: o.Health, Condition: health.ConditionRejections, State: health.Degraded, Level: slog.LevelError}),
		backoff:    retry.Backoff{Initial: o.Request.RetryInitialBackoff, Max: o.Request.RetryMaxBackoff},
		m: instruments{
			sentEvents:  m.SentEvents,
			sentBytes:   m.SentBytes,
			retries:     m.Retries,
			sendErrors:  m.Errors("send"),
			rejected:    m.Discarded(ReasonRejected),
			exhausted:   m.Discarded(ReasonRetriesExhausted),
			durOK:       m.RequestDuration("ok"),
			durRetry:    m.RequestDuration("retry"),
			durRejected: m.RequestDuration("rejected"),
			durPartial:  m.RequestDuration("partial"),
		},
	}, nil
}

// Run implements component.Sink.Run: it consumes in until it is closed,
// sends every event and releases every batch it took exactly once, then
// returns nil. Requests that fail transiently are retried until they
// succeed, even after in closed; when ctx ends, Run stops reading, releases
// every event it holds without a verdict as Failed, waits for the requests
// in flight (whose Send sees ctx end) and returns nil. Batches still in the
// channel were not taken and are not released.
func (d *Driver) Run(ctx context.Context, in <-chan *event.Batch) error {
	var (
		cfg       = d.opts.Batch
		immediate = cfg.Timeout == 0
		b         = batch.NewBuilder(cfg, d.opts.Encoder)
		slots     = make(chan struct{}, d.opts.Request.Concurrency)
		wg        sync.WaitGroup
		timer     = time.NewTimer(time.Hour)
		timerOn   bool
		expired   bool // the open request waited batch.timeout
		open      = true
		rest      []event.Event // events of the current source batch not yet in a request
		restT     *batch.Ticket
	)
	timer.Stop()
	defer timer.Stop()

	take := func(sb *event.Batch) {
		t := batch.Track(sb)
		if len(sb.Events) > 0 {
			restT, rest = t, sb.Events
		}
	}
	for ctx.Err() == nil {
		if restT != nil {
			rest = rest[b.Add(restT, rest):]
			if len(rest) == 0 {
				restT, rest = nil, nil
			}
		}
		if !open && b.Len() == 0 {
			break // drained; restT is nil because an empty request takes events
		}
		if b.Len() > 0 && !immediate && !timerOn && !expired {
			timer.Reset(cfg.Timeout)
			timerOn = true
		}
		full := b.Full() || restT != nil
		if immediate && open && !full {
			// Take what is already waiting before sending a partial request.
			select {
			case sb, ok := <-in:
				if !ok {
					open = false
				} else {
					take(sb)
				}
				continue
			default:
			}
		}
		var (
			inC    <-chan *event.Batch
			slotC  chan<- struct{}
			timerC <-chan time.Time
		)
		if open && !full {
			inC = in
		}
		if b.Len() > 0 && (full || expired || immediate || !open) {
			slotC = slots
		}
		if timerOn {
			timerC = timer.C
		}
		select {
		case <-ctx.Done():
		case sb, ok := <-inC:
			if !ok {
				open = false
				continue
			}
			take(sb)
		case <-timerC:
			timerOn, expired = false, true
		case slotC <- struct{}{}:
			req := b.Take()
			if timerOn {
				timer.Stop()
			}
			timerOn, expired = false, false
			wg.Go(func() {
				defer func() { <-slots }()
				d.deliver(ctx, req)
			})
		}
	}
	if ctx.Err() != nil {
		b.Finish(event.Failed)
		if restT != nil {
			restT.Done(len(rest), event.Failed)
		}
	}
	wg.Wait()
	return nil
}

// deliver sends req until it has a verdict for every event or ctx ends.
func (d *Driver) deliver(ctx context.Context, req *batch.Request) {
	started := time.Now()
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			req.Finish(event.Failed)
			return
		}
		actx, cancel := context.WithTimeout(ctx, d.opts.Request.Timeout)
		t0 := time.Now()
		err := d.opts.Sender.Send(actx, req)
		cancel()
		took := time.Since(t0).Seconds()
		if err == nil {
			d.m.durOK.Observe(took)
			d.sent(req.Len(), req.Size())
			d.endFailing()
			d.endDiscarding()
			req.Finish(event.Delivered)
			return
		}
		if ctx.Err() != nil {
			// Stopping: whatever the destination did, there is no verdict.
			req.Finish(event.Failed)
			return
		}
		d.m.sendErrors.Inc()
		var partial *retry.PartialError
		if errors.As(err, &partial) && len(partial.Outcomes) != req.Len() {
			err = fmt.Errorf("sink bug: partial result with %d outcomes for %d events, retrying the whole request: %w",
				len(partial.Outcomes), req.Len(), err)
			partial = nil
		}
		switch {
		case partial != nil:
			d.m.durPartial.Observe(took)
			// Count before Resolve releases the acknowledgements, so that
			// whoever waits on them sees the metrics already updated.
			accepted, byReason := countOutcomes(partial)
			d.sent(accepted, req.Size()*accepted/req.Len())
			for _, rc := range byReason {
				d.discard(err, rc.n, rc.reason)
			}
			if len(byReason) == 0 {
				d.endDiscarding()
			}
			next, _, _ := req.Resolve(partial.Outcomes, d.opts.Encoder)
			if next == nil {
				d.endFailing()
				return
			}
			req = next
		case retry.IsPermanent(err):
			d.m.durRejected.Observe(took)
			d.discard(err, req.Len(), ReasonRejected)
			req.Finish(event.Rejected)
			return
		default:
			d.m.durRetry.Observe(took)
		}
		// What is left of req failed transiently.
		if max := d.opts.Request.RetryMaxElapsed; max > 0 && time.Since(started) >= max {
			d.discard(fmt.Errorf("giving up after %d attempts over %s (request.retry_max_elapsed): %w",
				attempt, time.Since(started).Round(time.Millisecond), err), req.Len(), ReasonRetriesExhausted)
			req.Finish(event.Rejected)
			return
		}
		wait := d.backoff.Delay(attempt)
		if hint, ok := retry.Delay(err); ok {
			wait = min(hint, MaxRetryAfter)
		}
		d.failing.Fail("sending failed, retrying until it succeeds", "send_failed", err, req.Len(),
			"events", req.Len(), "attempt", attempt, "retry_in", wait)
		if !backoff.Sleep(ctx, wait) {
			req.Finish(event.Failed)
			return
		}
		d.m.retries.Inc()
	}
}

func (d *Driver) sent(events, bytes int) {
	d.m.sentEvents.Add(float64(events))
	d.m.sentBytes.Add(float64(bytes))
}

// discard counts and logs events discarded for reason; the log comes once
// per streak of discarding requests.
func (d *Driver) discard(err error, n int, reason string) {
	switch reason {
	case ReasonRetriesExhausted:
		d.m.exhausted.Add(float64(n))
	case ReasonRejected:
		d.m.rejected.Add(float64(n))
	default:
		d.opts.Metrics.Discarded(reason).Add(float64(n))
	}
	msg := "destination refused events, discarding them"
	if reason == ReasonRetriesExhausted {
		msg = "retries ran out, discarding events"
	}
	d.discarding.Fail(msg, reason, err, n, "events", n)
}

// reasonCount is a number of refused events with one discard reason.
type reasonCount struct {
	reason string
	n      int
}

// countOutcomes counts the Accepted outcomes of p, and its Refused ones by
// discard reason in order of first appearance; events without a reason
// count as ReasonRejected.
func countOutcomes(p *retry.PartialError) (accepted int, out []reasonCount) {
	for i, o := range p.Outcomes {
		if o == batch.Accepted {
			accepted++
		}
		if o != batch.Refused {
			continue
		}
		reason := ReasonRejected
		if len(p.Reasons) == len(p.Outcomes) && p.Reasons[i] != "" {
			reason = p.Reasons[i]
		}
		found := false
		for j := range out {
			if out[j].reason == reason {
				out[j].n++
				found = true
				break
			}
		}
		if !found {
			out = append(out, reasonCount{reason, 1})
		}
	}
	return accepted, out
}

// endFailing ends the streak of transient failures, when a request got
// through, and logs it.
func (d *Driver) endFailing() {
	d.failing.End("sending works again")
}

// endDiscarding ends the streak of discarding requests, when the
// destination accepted a request without refusing events, and logs it.
func (d *Driver) endDiscarding() {
	d.discarding.End("destination accepts events again")
}
