// Package driver runs a request-based sink: it takes source batches from
// the sink's input, builds requests within the `batch` limits, sends up to
// `request.concurrency` of them at once through the sink's Sender, and
// applies drover's delivery policy to the answers (see Sender and
// internal/sink/retry): transient failures are retried with backoff until
// they succeed, requests refused as a whole are split, refused events are
// dead-lettered. It releases every source batch's Ack exactly once. A sink
// supplies how to encode and how to send; everything between the input
// channel and the destination is here.
//
// Wiring a new sink:
//
//	d, err := driver.New(driver.Options{
//		Batch: cfg.Batch, Request: cfg.Request,
//		Encoder: codec.Lines{},        // or nil to build the body in Send
//		Sender:  s,                     // Send(ctx, *batch.Request) error
//		Destination: cfg.URI,
//		Component: cctx,                // logger, metrics, health, dead letters
//		Prober:  s,                     // optional: Probe(ctx) error
//	})
//	...
//	func (s *sink) Run(ctx context.Context, in <-chan *event.Batch) error { return s.d.Run(ctx, in) }
//
// and register the sink with Outputs: deadletter.Outputs, so that its
// refused events can be consumed as "<id>.dead_letter".
package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/deadletter"
	"github.com/drover-dev/drover/internal/sink/delivery"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// Sender delivers one request to the destination. This is the contract
// every request-based sink implements (the OpenTelemetry sink included); the
// driver applies drover's delivery policy (internal/sink/retry) to what Send
// returns:
//
//   - nil: the destination accepted every event of req.
//   - A transient failure (any error not marked otherwise, or
//     retry.Transient with a reason): the request is sent again after a
//     backoff, indefinitely, while the sink takes no more input. Use it for
//     everything that is not the data's fault: the destination unreachable,
//     timeouts, overload, 5xx, 429, refused credentials (401, 403, 407), an
//     unknown path, index, table, log group or topic (404). The reason
//     ("unauthorized", "not_found", ...) is the health condition's; an
//     *httpclient.StatusError is classified by its status without help
//     (retry.HTTPStatus), and retry.After or a Retry-After header names the
//     delay the destination asked for.
//   - retry.TooLarge or retry.Bisect: the destination refused the request as
//     a whole for something some of its events may be at fault for (413; a
//     400 that names no event). The driver sends it again in halves, down
//     to single events, and rejects a single event refused so. A Sender does
//     not split requests itself.
//   - retry.Reject (retry.Permanent): every event of req was refused for
//     its content. The events are counted as discarded with the reason and
//     handed to the sink's dead-letter output; their batches are released
//     as Rejected once the dead letters are delivered.
//   - A *retry.PartialError with one outcome per event when the destination
//     answered event by event (a bulk API): Accepted, Retry (sent again
//     after a backoff), Split (sent again in halves), Refused (rejected with
//     its entry of Reasons and Causes).
//   - A *retry.UnidentifiedError when the destination took the request but
//     refused some of its events without naming them (an OTLP partial
//     success): the request is delivered, that many events are counted as
//     discarded with its reason, and no dead letter is written.
//
// Send must return promptly when ctx ends (ctx also carries the
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
	// Component is the sink's context: its Logger (nil discards), its
	// Metrics (nil counts into a private registry), its Health reporter
	// and its dead-letter output (Outputs["dead_letter"]).
	//
	// The driver counts events the destination accepted (SentEvents) and
	// the size of their requests (SentBytes: Request.Size, pro rata for
	// partly accepted requests), failed attempts (Errors("send") and
	// DeliveryFailures(reason)), attempts sent again (Retries), refused
	// events (Discarded(reason): "rejected", "too_large", a reason of the
	// sink's, "retries_exhausted"), the time of the last delivery
	// (LastDelivery) and attempt durations by outcome (RequestDuration
	// "ok", "retry", "split", "rejected", "partial"). It reports the
	// "delivery" condition (failing, with the reason) while requests fail
	// and "rejections" (degraded) while the destination refuses events. It
	// never touches BufferEvents, which it reads for the backlog it logs.
	Component component.Context
	// Prober, when set, is probed every request.probe_interval while
	// requests fail; when it answers again after it did not, the retries
	// waiting out their backoff are sent at once.
	Prober delivery.Prober
	// Remind is how often a lasting failure is logged again, with the
	// backlog; delivery.DefaultRemind when 0.
	Remind time.Duration
	// SendWhenIdle sends a request that is not full before batch.timeout
	// when the sink has nothing else to do: no request in flight and no
	// input waiting, once the request has waited IdleLinger(batch.timeout)
	// for more events. Under load requests are in flight, so they still
	// fill; a quiet source's lines go out in a fraction of the timeout
	// instead of all of it. Leave it unset for destinations that want few
	// requests whatever the latency (ClickHouse inserts, CloudWatch Logs'
	// request rate).
	SendWhenIdle bool
	// OrderByStream keeps each stream's events in order at the destination
	// with request.concurrency above 1: a request goes out only when no
	// request in flight holds events of its streams (their *event.Meta);
	// until then the next request waits behind it. Requests of different
	// streams are in flight at once. A destination whose own notion of a
	// stream joins several of drover's (Loki's label sets) needs its own
	// key and leaves it unset.
	OrderByStream bool
}

// IdleLinger is how long a request that is not full waits for more events
// while the sink is idle, with SendWhenIdle: a tenth of batch.timeout, at
// most 100ms.
func IdleLinger(timeout time.Duration) time.Duration {
	return min(timeout/10, 100*time.Millisecond)
}

// MaxRetryAfter caps the delay a destination can ask for with Retry-After,
// so that a bogus header cannot stall a sink for hours.
const MaxRetryAfter = 5 * time.Minute

// Discard reasons counted by the driver.
const (
	// ReasonRejected: the destination refused the events for good.
	ReasonRejected = retry.ReasonRejected
	// ReasonRetriesExhausted: request.retry_max_elapsed ran out.
	ReasonRetriesExhausted = retry.ReasonRetriesExhausted
)

// Driver runs a request-based sink. Build it once with New; Run may be
// called again after it returned (a restarted sink).
type Driver struct {
	opts   Options
	log    *slog.Logger
	track  *delivery.Tracker
	dead   *deadletter.Writer
	m      instruments
	warned atomic.Bool // the too-large advice was logged
}

type instruments struct {
	sentEvents, sentBytes, retries, sendErrors         prometheus.Counter
	inFlight                                           prometheus.Gauge
	durOK, durRetry, durSplit, durRejected, durPartial prometheus.Observer
}

// New checks the options and returns a Driver.
func New(o Options) (*Driver, error) {
	if o.Sender == nil {
		return nil, errors.New("driver: no Sender")
	}
	if err := ValidateBlocks(o.Batch, o.Request); err != nil {
		return nil, err
	}
	c := &o.Component
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = metrics.ForTest("sink", "unknown", "unknown")
	}
	m := c.Metrics
	log := c.Logger.With("destination", o.Destination)
	return &Driver{
		opts:  o,
		log:   log,
		track: delivery.New(delivery.Config{Logger: log, Metrics: m, Health: c.Health, Remind: o.Remind}),
		dead:  deadletter.New(*c),
		m: instruments{
			sentEvents:  m.SentEvents,
			sentBytes:   m.SentBytes,
			retries:     m.Retries,
			inFlight:    m.InFlight,
			sendErrors:  m.Errors("send"),
			durOK:       m.RequestDuration("ok"),
			durRetry:    m.RequestDuration("retry"),
			durSplit:    m.RequestDuration("split"),
			durRejected: m.RequestDuration("rejected"),
			durPartial:  m.RequestDuration("partial"),
		},
	}, nil
}

// Tracker returns the driver's delivery tracker, for a sink that wakes
// the retries itself.
func (d *Driver) Tracker() *delivery.Tracker { return d.track }

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
		linger    = IdleLinger(cfg.Timeout)
		lingered  bool          // the open request waited linger (SendWhenIdle)
		freed     chan struct{} // a request in flight ended (SendWhenIdle, OrderByStream)
		ordered   = d.opts.OrderByStream && d.opts.Request.Concurrency > 1
		inFlight  streamsInFlight
		held      *batch.Request // taken, waiting until its streams are not in flight
		heldKeys  []*event.Meta
		open      = true
		rest      []event.Event // events of the current source batch not yet in a request
		restT     *batch.Ticket
	)
	timer.Stop()
	defer timer.Stop()
	idleSend := d.opts.SendWhenIdle && !immediate && linger > 0
	afterLinger := cfg.Timeout // what the timer waits once the request lingered
	if idleSend || ordered {
		freed = make(chan struct{}, 1)
	}
	if idleSend {
		afterLinger -= linger
	} else {
		lingered = true // the timer waits batch.timeout at once
	}
	if p := d.opts.Prober; p != nil && d.opts.Request.ProbeInterval > 0 {
		pctx, stopProbe := context.WithCancel(ctx)
		var probing sync.WaitGroup
		probing.Go(func() {
			d.track.Probe(pctx, p, d.opts.Request.ProbeInterval, min(d.opts.Request.Timeout, maxProbeTimeout))
		})
		defer probing.Wait()
		defer stopProbe()
	}

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
		if !open && b.Len() == 0 && held == nil {
			break // drained; restT is nil because an empty request takes events
		}
		if b.Len() > 0 && !immediate && !timerOn && !expired {
			if lingered {
				timer.Reset(afterLinger)
			} else {
				timer.Reset(linger)
			}
			timerOn = true
		}
		full := b.Full() || restT != nil
		// With SendWhenIdle, a request that waited linger goes out when
		// nothing is in flight and no input waits.
		idle := idleSend && lingered && b.Len() > 0 && len(slots) == 0
		if (immediate || idle) && open && !full {
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
			freedC <-chan struct{}
		)
		if open && !full {
			inC = in
		}
		heldReady := held != nil && inFlight.free(heldKeys)
		if heldReady || held == nil && b.Len() > 0 && (full || expired || immediate || idle || !open) {
			slotC = slots
		}
		if timerOn {
			timerC = timer.C
		}
		if idleSend && lingered && b.Len() > 0 || held != nil && !heldReady {
			freedC = freed
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
			timerOn = false
			if lingered {
				expired = true
			} else {
				lingered = true
			}
		case <-freedC: // look again: the sink may be idle, a stream free
		case slotC <- struct{}{}:
			var req *batch.Request
			var keys []*event.Meta
			if held != nil {
				req, keys, held, heldKeys = held, heldKeys, nil, nil
			} else {
				req = b.Take()
				if timerOn {
					timer.Stop()
				}
				timerOn, expired, lingered = false, false, !idleSend
				if ordered {
					if keys = streamsOf(req); !inFlight.free(keys) {
						// A stream of it is in flight: it waits (and the
						// requests after it wait behind it).
						held, heldKeys = req, keys
						<-slots
						continue
					}
				}
			}
			if ordered {
				inFlight.hold(keys)
			}
			wg.Go(func() {
				defer func() {
					if ordered {
						inFlight.release(keys)
					}
					<-slots
					if freed != nil {
						select {
						case freed <- struct{}{}:
						default:
						}
					}
				}()
				d.m.inFlight.Inc()
				defer d.m.inFlight.Dec()
				d.deliver(ctx, req, false)
			})
		}
	}
	if ctx.Err() != nil {
		if held != nil {
			held.Finish(event.Failed)
		}
		b.Finish(event.Failed)
		if restT != nil {
			restT.Done(len(rest), event.Failed)
		}
	}
	wg.Wait()
	return nil
}

// maxProbeTimeout bounds one probe.
const maxProbeTimeout = 10 * time.Second

// deliver sends req until it has a verdict for every event or ctx ends.
// part reports that req is a part of a request that was split: its
// delivery does not end a run of refusals, which the whole request's
// refused events belong to.
func (d *Driver) deliver(ctx context.Context, req *batch.Request, part bool) {
	started := time.Now()
	bo := backoff.Backoff{Initial: d.opts.Request.RetryInitialBackoff, Max: d.opts.Request.RetryMaxBackoff}
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			req.Finish(event.Failed)
			return
		}
		woken := d.track.Woken()
		actx, cancel := context.WithTimeout(ctx, d.opts.Request.Timeout)
		t0 := time.Now()
		err := d.opts.Sender.Send(actx, req)
		cancel()
		took := time.Since(t0).Seconds()
		if err == nil {
			d.m.durOK.Observe(took)
			d.sent(req.Len(), req.Size())
			d.track.Delivered(!part)
			req.Finish(event.Delivered)
			return
		}
		if ctx.Err() != nil {
			// Stopping: whatever the destination did, there is no verdict.
			req.Finish(event.Failed)
			return
		}
		var unidentified *retry.UnidentifiedError
		if errors.As(err, &unidentified) {
			d.m.durOK.Observe(took)
			d.unidentified(req, unidentified)
			return
		}
		d.m.sendErrors.Inc()
		var partial *retry.PartialError
		if errors.As(err, &partial) && len(partial.Outcomes) != req.Len() {
			err = fmt.Errorf("sink bug: partial result with %d outcomes for %d events, retrying the whole request: %w",
				len(partial.Outcomes), req.Len(), err)
			partial = nil
		}
		if partial != nil {
			d.m.durPartial.Observe(took)
			if req = d.resolve(ctx, req, partial, part); req == nil {
				return
			}
		} else {
			switch class, reason := retry.Classify(err); class {
			case retry.ClassSplit:
				d.m.durSplit.Observe(took)
				d.split(ctx, req, reason, err)
				return
			case retry.ClassReject:
				d.m.durRejected.Observe(took)
				d.reject(ctx, req, func(int) deadletter.Refusal { return refusal(reason, err) })
				return
			default:
				d.m.durRetry.Observe(took)
			}
		}
		// What is left of req failed transiently.
		if max := d.opts.Request.RetryMaxElapsed; max > 0 && time.Since(started) >= max {
			gaveUp := fmt.Errorf("giving up after %d attempts over %s (request.retry_max_elapsed): %w",
				attempt, time.Since(started).Round(time.Millisecond), err)
			d.reject(ctx, req, func(int) deadletter.Refusal { return refusal(ReasonRetriesExhausted, gaveUp) })
			return
		}
		wait := bo.Next()
		if hint, ok := retry.Delay(err); ok {
			wait = min(hint, MaxRetryAfter)
		}
		d.track.Failed(err, req.Len(), "events", req.Len(), "attempt", attempt, "retry_in", wait)
		if !d.track.Sleep(ctx, wait, woken) {
			req.Finish(event.Failed)
			return
		}
		d.m.retries.Inc()
	}
}

// unidentified settles a request the destination took but for u.Refused
// of its events, which it did not name: the others count as sent, those as
// discarded with u's reason, and the whole request is released as
// delivered (nothing is owed for it: a retry cannot help, and no dead
// letter can say which events they were).
func (d *Driver) unidentified(req *batch.Request, u *retry.UnidentifiedError) {
	n := min(max(u.Refused, 1), req.Len())
	reason := u.Reason
	if reason == "" {
		reason = retry.ReasonRejected
	}
	accepted := req.Len() - n
	d.sent(accepted, req.Size()*accepted/req.Len())
	d.track.Refused(reason, u, n)
	d.track.Delivered(false)
	req.Finish(event.Delivered)
}

// refusal is the dead-letter refusal of an error classified with reason.
func refusal(reason string, err error) deadletter.Refusal {
	return deadletter.Refusal{Reason: reason, Err: err, Status: retry.Status(err)}
}

// resolve applies a partial result: it counts and releases the accepted
// events, rejects the refused ones, sends the ones to split in smaller
// requests, and returns the events to retry (nil when there are none).
func (d *Driver) resolve(ctx context.Context, req *batch.Request, p *retry.PartialError, part bool) *batch.Request {
	// Count before Resolve releases the acknowledgements, so that whoever
	// waits on them sees the metrics already updated.
	var accepted, split int
	var refusals []deadletter.Refusal
	for i, o := range p.Outcomes {
		switch o {
		case batch.Accepted:
			accepted++
		case batch.Refused:
			refusals = append(refusals, refusal(p.Reason(i), p.Cause(i)))
		case batch.Split:
			split++
		}
	}
	d.sent(accepted, req.Size()*accepted/req.Len())
	if accepted > 0 {
		d.track.Delivered(!part && len(refusals) == 0 && split == 0)
	}
	d.countRefused(p, refusals)
	res := req.Resolve(p.Outcomes, d.opts.Encoder)
	if res.Refused != nil {
		d.deadLetter(ctx, res.Refused, func(i int) deadletter.Refusal { return refusals[i] })
	}
	if res.Split != nil {
		if res.Split.Len() == 1 {
			d.deliver(ctx, res.Split, true) // alone, its own answer decides
		} else {
			_, reason := retry.Classify(p)
			d.split(ctx, res.Split, reason, p)
		}
	}
	return res.Retry
}

// split sends req again in two halves, each delivered on its own; a
// single event is rejected with reason.
func (d *Driver) split(ctx context.Context, req *batch.Request, reason string, err error) {
	if req.Len() == 1 {
		d.reject(ctx, req, func(int) deadletter.Refusal { return refusal(reason, err) })
		return
	}
	if reason == retry.ReasonTooLarge && !d.warned.Swap(true) {
		d.log.Warn("destination refused a request as too large; sending it in halves, down to single events. "+
			"Lower batch.max_bytes (or batch.max_events) below the destination's limit to avoid the extra requests",
			"events", req.Len(), "bytes", req.Size(), "error", err)
	} else {
		d.log.Debug("destination refused a request as a whole; sending it in halves to find the events at fault",
			"events", req.Len(), "reason", reason, "error", err)
	}
	a, b := req.Halve(d.opts.Encoder)
	d.deliver(ctx, a, true)
	d.deliver(ctx, b, true)
}

// reject counts every event of req as refused, refusal(i) saying why
// event i was, and dead-letters them.
func (d *Driver) reject(ctx context.Context, req *batch.Request, refusal func(i int) deadletter.Refusal) {
	refusals := make([]deadletter.Refusal, req.Len())
	for i := range refusals {
		refusals[i] = refusal(i)
	}
	d.countRefused(nil, refusals)
	d.deadLetter(ctx, req, func(i int) deadletter.Refusal { return refusals[i] })
}

// countRefused counts refused events by reason; the log comes once per
// run of requests with refusals. p, when set, is the partial result the
// refusals come from, for the log.
func (d *Driver) countRefused(p *retry.PartialError, refusals []deadletter.Refusal) {
	for len(refusals) > 0 {
		r := refusals[0]
		n, rest := 0, refusals[:0:0]
		for _, o := range refusals {
			if o.Reason == r.Reason {
				n++
			} else {
				rest = append(rest, o)
			}
		}
		err := r.Err
		if p != nil {
			err = p
		}
		d.track.Refused(r.Reason, err, n)
		refusals = rest
	}
}

// deadLetter hands the events of req to the dead-letter output and
// releases them as Rejected once their dead letters are delivered, or as
// Failed when they could not be (the source reads them again).
func (d *Driver) deadLetter(ctx context.Context, req *batch.Request, refusal func(i int) deadletter.Refusal) {
	evs := make([]*event.Event, 0, req.Len())
	for _, e := range req.Events() {
		evs = append(evs, e)
	}
	d.dead.Write(ctx, evs, refusal, func(ok bool) {
		if ok {
			req.Finish(event.Rejected)
		} else {
			req.Finish(event.Failed)
		}
	})
}

func (d *Driver) sent(events, bytes int) {
	d.m.sentEvents.Add(float64(events))
	d.m.sentBytes.Add(float64(bytes))
}
