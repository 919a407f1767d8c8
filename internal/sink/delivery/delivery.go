// Package delivery reports how a sink's delivery is doing and wakes its
// sleeping retries when the destination is back. The sink driver and the
// sinks that run their own delivery loop (kafka) report through a Tracker:
//
//   - a run of transient failures holds the sink's "delivery" health
//     condition (failing) with the reason of the last failure
//     ("unauthorized", "not_found", "unreachable"), counts every failed
//     attempt by reason (drover_component_delivery_failures_total), and is
//     logged when it starts, when its reason changes, every Remind with the
//     backlog (the events in the sink's input buffer: its buffer_events
//     gauge), and once when it ends;
//   - refused events are counted by reason
//     (drover_component_discarded_events_total) and a run of requests with
//     refusals holds the "rejections" condition (degraded);
//   - every delivery sets drover_component_last_delivery_timestamp_seconds;
//   - Sleep waits out a retry's backoff, and returns early when Wake is
//     called: by a delivery that got through, or by a probe (Probe) that
//     finds the destination answering again after it did not.
package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// DefaultRemind is how often a lasting failure is logged again.
const DefaultRemind = health.DefaultRemind

// Config configures a Tracker.
type Config struct {
	// Logger receives the log lines; nil discards them.
	Logger *slog.Logger
	// Metrics are the sink's instruments; nil counts into a private
	// registry.
	Metrics *metrics.Component
	// Health is the sink's Reporter; nil reports nowhere.
	Health *health.Reporter
	// Remind is how often a lasting run of failures is logged again;
	// DefaultRemind when 0.
	Remind time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// Tracker reports one sink's delivery. It is safe for concurrent use.
type Tracker struct {
	m                 *metrics.Component
	now               func() time.Time
	failing, refusing *health.Streak
	lastDelivery      prometheus.Gauge
	backlog           slog.Value

	mu    sync.Mutex
	wake  chan struct{} // closed and replaced by Wake
	start chan struct{} // closed and replaced when a run of failures starts
}

// New returns a Tracker with no failure.
func New(c Config) *Tracker {
	if c.Metrics == nil {
		c.Metrics = metrics.ForTest("sink", "unknown", "unknown")
	}
	if c.Remind == 0 {
		c.Remind = DefaultRemind
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	t := &Tracker{
		m:   c.Metrics,
		now: c.Now,
		failing: health.NewStreak(health.StreakConfig{Logger: c.Logger, Health: c.Health,
			Condition: health.ConditionDelivery, Remind: c.Remind, Now: c.Now}),
		refusing: health.NewStreak(health.StreakConfig{Logger: c.Logger, Health: c.Health,
			Condition: health.ConditionRejections, State: health.Degraded, Level: slog.LevelError, Remind: c.Remind, Now: c.Now}),
		lastDelivery: c.Metrics.LastDelivery(),
		backlog:      slog.AnyValue(backlog{c.Metrics.BufferEvents}),
		wake:         make(chan struct{}),
		start:        make(chan struct{}),
	}
	return t
}

// backlog logs the events in the sink's input buffer when a line is
// written, not when it is built.
type backlog struct{ g prometheus.Gauge }

func (b backlog) LogValue() slog.Value {
	var m dto.Metric
	if err := b.g.Write(&m); err != nil {
		return slog.StringValue("unknown")
	}
	return slog.Int64Value(int64(m.GetGauge().GetValue()))
}

// Backlog returns the events in the sink's input buffer.
func (t *Tracker) Backlog() int64 { return t.backlog.Resolve().Int64() }

// hints say what an operator can do about a failure's reason.
var hints = map[string]string{
	retry.ReasonUnauthorized: "the destination refuses the credentials: fix them (a token_file is read again when it changes)",
	retry.ReasonForbidden:    "the destination denies the credentials access: grant it",
	retry.ReasonNotFound:     "the destination does not know the target (path, index, table, log group or topic): create it or fix the configuration",
	retry.ReasonUnreachable:  "the destination cannot be reached",
	retry.ReasonRedirected:   "the destination redirects the request: configure the address it redirects to",
	retry.ReasonMisconfigure: "the destination refuses the sink's settings: fix the configuration",
}

// Failed reports a transient failure of an attempt that concerned n
// events and returns its reason. attrs are added to the log line.
func (t *Tracker) Failed(err error, n int, attrs ...any) (reason string) {
	_, reason = retry.Classify(err)
	t.m.DeliveryFailures(reason).Inc()
	attrs = append(attrs, "backlog", t.backlog)
	if h, ok := hints[reason]; ok {
		attrs = append(attrs, "hint", h)
	}
	if t.failing.Fail("sending failed; events wait in the input and are sent again until the destination takes them",
		reason, err, n, attrs...) {
		t.mu.Lock()
		close(t.start)
		t.start = make(chan struct{})
		t.mu.Unlock()
	}
	return reason
}

// Refused counts n events the destination refused with reason and logs the
// first request of a run of refusals.
func (t *Tracker) Refused(reason string, err error, n int) {
	t.m.Discarded(reason).Add(float64(n))
	msg := "destination refused events; they go to the dead-letter output"
	if reason == retry.ReasonRetriesExhausted {
		msg = "request.retry_max_elapsed ran out; the events go to the dead-letter output"
	}
	t.refusing.Fail(msg, reason, err, n, "events", n)
}

// Delivered reports that the destination took events: it sets the time of
// the last delivery, ends a run of failures (logging the recovery) and
// wakes the sleeping retries. clean reports that it refused none of the
// request's events, which ends a run of refusals.
func (t *Tracker) Delivered(clean bool) {
	t.lastDelivery.Set(float64(t.now().UnixNano()) / 1e9)
	if _, ended := t.failing.End("sending works again", "backlog", t.backlog); ended {
		t.Wake()
	}
	if clean {
		t.refusing.End("destination accepts events again")
	}
}

// Failing reports whether a run of failures lasts.
func (t *Tracker) Failing() bool { return t.failing.Failures() > 0 }

// Wake ends every Sleep under way.
func (t *Tracker) Wake() {
	t.mu.Lock()
	close(t.wake)
	t.wake = make(chan struct{})
	t.mu.Unlock()
}

// Sleep waits d, until a Wake that closes woken or until ctx ends; it
// reports whether ctx is still alive. woken is what Woken returned when the
// failed attempt began: a delivery that woke the sleepers while the attempt
// was still under way ends the sleep at once, since the destination took
// events after the attempt was sent.
func (t *Tracker) Sleep(ctx context.Context, d time.Duration, woken <-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-woken:
	case <-ctx.Done():
	}
	return ctx.Err() == nil
}

// Woken returns a channel that is closed by the next Wake, for loops that
// wait on more than a Sleep.
func (t *Tracker) Woken() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.wake
}

// Prober checks cheaply whether a destination answers (a health endpoint,
// a ping), with the sink's address and credentials.
type Prober interface {
	Probe(ctx context.Context) error
}

// Probe runs p every interval while a run of failures lasts, until ctx
// ends. When a probe succeeds after one failed in the same run (the
// destination was down and is back, or takes the credentials again), it
// wakes the sleeping retries, so that delivery resumes within an interval
// instead of after the backoff. A probe that never failed wakes nothing:
// it cannot tell what the sends fail on. Each probe is bounded by timeout.
func (t *Tracker) Probe(ctx context.Context, p Prober, interval, timeout time.Duration) {
	for {
		t.mu.Lock()
		start := t.start
		t.mu.Unlock()
		if !t.Failing() {
			select {
			case <-start:
			case <-ctx.Done():
				return
			}
		}
		down := false
		for t.Failing() {
			tick := time.NewTimer(interval)
			select {
			case <-tick.C:
			case <-ctx.Done():
				tick.Stop()
				return
			}
			pctx, cancel := context.WithTimeout(ctx, timeout)
			err := p.Probe(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				down = true
				continue
			}
			if down && t.Failing() {
				t.Wake()
			}
			down = false
		}
	}
}
