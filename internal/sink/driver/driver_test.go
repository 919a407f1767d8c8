package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/retry"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// memDest is a destination in memory. It decodes each request's NDJSON
// body, so the suite also checks what the driver hands to the Sender.
type memDest struct {
	mu   sync.Mutex
	mode sinktest.Mode
	got  []string
}

func (m *memDest) SetMode(mode sinktest.Mode) { m.mu.Lock(); m.mode = mode; m.mu.Unlock() }

func (m *memDest) Received() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.got...)
}

func (m *memDest) Send(ctx context.Context, req *batch.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.mode {
	case sinktest.FailTransient:
		return errors.New("destination unavailable")
	case sinktest.Refuse:
		return retry.Permanent(errors.New("bad request"))
	}
	for _, line := range bytes.Split(bytes.TrimSuffix(req.Body, []byte("\n")), []byte("\n")) {
		var v struct{ Message string }
		if err := json.Unmarshal(line, &v); err != nil {
			return retry.Permanent(fmt.Errorf("bad body line %q: %w", line, err))
		}
		m.got = append(m.got, v.Message)
	}
	return nil
}

type driverSink struct{ d *Driver }

func (s driverSink) Run(ctx context.Context, in <-chan *event.Batch) error { return s.d.Run(ctx, in) }

func fastRequest(concurrency int) RequestConfig {
	return RequestConfig{Concurrency: concurrency, Timeout: 5 * time.Second,
		RetryInitialBackoff: time.Millisecond, RetryMaxBackoff: 5 * time.Millisecond}
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch batch.Config
	}{
		{"timeout", batch.Config{MaxEvents: 10, MaxBytes: 1 << 20, Timeout: 5 * time.Millisecond}},
		{"immediate", batch.Config{MaxEvents: 1000, MaxBytes: 1 << 20, Timeout: 0}},
		{"small-bytes", batch.Config{MaxEvents: 1000, MaxBytes: 300, Timeout: time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, m *metrics.Component) (component.Sink, sinktest.Destination) {
				dest := &memDest{}
				d, err := New(Options{Batch: tc.batch, Request: fastRequest(1), Encoder: codec.Lines{}, Sender: dest, Metrics: m})
				if err != nil {
					t.Fatal(err)
				}
				return driverSink{d}, dest
			}})
		})
	}
}

// harness runs a driver with a Sender function.
type harness struct {
	t      *testing.T
	d      *Driver
	m      *metrics.Component
	in     chan *event.Batch
	cancel context.CancelFunc
	done   chan error
	acks   chan bool
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	if o.Metrics == nil {
		o.Metrics = metrics.ForTest("sink", "test", t.Name())
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, d: d, m: o.Metrics, in: make(chan *event.Batch), cancel: cancel, done: make(chan error, 1), acks: make(chan bool, 1000)}
	go func() { h.done <- d.Run(ctx, h.in) }()
	t.Cleanup(func() {
		cancel()
		<-h.done
	})
	return h
}

func (h *harness) batch(prefix string, n int) *event.Batch {
	b := &event.Batch{Ack: event.NewAck(func(ok bool) { h.acks <- ok })}
	for i := range n {
		b.Events = append(b.Events, event.Event{Message: fmt.Appendf(nil, "%s%d", prefix, i)})
	}
	return b
}

func (h *harness) send(b *event.Batch) {
	h.t.Helper()
	select {
	case h.in <- b:
	case <-time.After(10 * time.Second):
		h.t.Fatal("batch not taken")
	}
}

func (h *harness) closeAndWait() {
	h.t.Helper()
	close(h.in)
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Fatalf("Run: %v", err)
		}
		h.done <- nil
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return after close")
	}
}

func (h *harness) ack() bool {
	h.t.Helper()
	select {
	case ok := <-h.acks:
		return ok
	case <-time.After(10 * time.Second):
		h.t.Fatal("no ack")
		return false
	}
}

func messages(req *batch.Request) []string {
	var out []string
	for _, e := range req.Events() {
		out = append(out, string(e.Message))
	}
	return out
}

// recorder is a Sender that records requests and answers with a function.
type recorder struct {
	mu     sync.Mutex
	reqs   [][]string
	times  []time.Time
	answer func(n int, req *batch.Request) error
}

func (r *recorder) Send(ctx context.Context, req *batch.Request) error {
	r.mu.Lock()
	n := len(r.reqs)
	r.reqs = append(r.reqs, messages(req))
	r.times = append(r.times, time.Now())
	r.mu.Unlock()
	if r.answer != nil {
		return r.answer(n, req)
	}
	return nil
}

func (r *recorder) requests() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.reqs...)
}

func TestBatchTimeoutMergesBatches(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 100, MaxBytes: 1 << 20, Timeout: 100 * time.Millisecond},
		Request: fastRequest(1), Sender: rec})
	began := time.Now()
	h.send(h.batch("a", 2))
	h.send(h.batch("b", 3))
	h.ack()
	h.ack()
	reqs := rec.requests()
	if fmt.Sprint(reqs) != "[[a0 a1 b0 b1 b2]]" {
		t.Fatalf("requests = %v", reqs)
	}
	if waited := rec.times[0].Sub(began); waited < 100*time.Millisecond {
		t.Fatalf("partial request sent after %s, before batch.timeout", waited)
	}
	h.closeAndWait()
}

func TestZeroTimeoutSendsWithoutWaiting(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 100, MaxBytes: 1 << 20, Timeout: 0},
		Request: fastRequest(1), Sender: rec})
	h.send(h.batch("a", 2))
	// The input stays open: only the zero timeout can send this request.
	if !h.ack() {
		t.Fatal("ack not ok")
	}
	if fmt.Sprint(rec.requests()) != "[[a0 a1]]" {
		t.Fatalf("requests = %v", rec.requests())
	}
	h.closeAndWait()
}

func TestMaxEventsSplitsBatch(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 4, MaxBytes: 1 << 20, Timeout: time.Hour},
		Request: fastRequest(1), Sender: rec})
	h.send(h.batch("a", 10))
	h.closeAndWait()
	if !h.ack() {
		t.Fatal("ack not ok")
	}
	if got := fmt.Sprint(rec.requests()); got != "[[a0 a1 a2 a3] [a4 a5 a6 a7] [a8 a9]]" {
		t.Fatalf("requests = %s", got)
	}
	if got := testutil.ToFloat64(h.m.SentEvents); got != 10 {
		t.Fatalf("sent events = %v", got)
	}
}

func TestConcurrencyBoundAndBackpressure(t *testing.T) {
	var inflight, peak atomic.Int32
	release := make(chan struct{})
	rec := &recorder{answer: func(int, *batch.Request) error {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inflight.Add(-1)
		return nil
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 1, MaxBytes: 1 << 20, Timeout: time.Hour},
		Request: fastRequest(3), Sender: rec})
	// Three requests in flight and a fourth one full: the driver takes
	// four single-event batches, then stops reading.
	for i := range 4 {
		h.send(h.batch(fmt.Sprint("b", i, "-"), 1))
	}
	deadline := time.Now().Add(10 * time.Second)
	for inflight.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("three requests never in flight")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case h.in <- h.batch("late", 1):
		t.Fatal("driver took input although every request slot was busy and the next request full")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	h.send(h.batch("late", 1))
	h.closeAndWait()
	for range 5 {
		if !h.ack() {
			t.Fatal("ack not ok")
		}
	}
	if p := peak.Load(); p != 3 {
		t.Fatalf("peak concurrency %d, want 3", p)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	rec := &recorder{answer: func(n int, _ *batch.Request) error {
		if n == 0 {
			return retry.After(errors.New("429 too many requests"), 300*time.Millisecond)
		}
		return nil
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 10, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: fastRequest(1), Sender: rec})
	h.send(h.batch("a", 1))
	if !h.ack() {
		t.Fatal("ack not ok")
	}
	if gap := rec.times[1].Sub(rec.times[0]); gap < 300*time.Millisecond {
		t.Fatalf("retried after %s despite Retry-After of 300ms", gap)
	}
	if got := testutil.ToFloat64(h.m.Retries); got != 1 {
		t.Fatalf("retries = %v", got)
	}
	h.closeAndWait()
}

func TestPartialResult(t *testing.T) {
	rec := &recorder{answer: func(n int, req *batch.Request) error {
		if n == 0 {
			return &retry.PartialError{
				Outcomes: []batch.Outcome{batch.Accepted, batch.Refused, batch.Retry, batch.Accepted, batch.Retry},
				Err:      errors.New("mapping error; queue full"),
			}
		}
		return nil
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 5, MaxBytes: 1 << 20, Timeout: time.Hour},
		Request: fastRequest(1), Encoder: codec.Array{}, Sender: rec})
	h.send(h.batch("a", 3))
	h.send(h.batch("b", 2))
	if !h.ack() || !h.ack() {
		t.Fatal("ack not ok")
	}
	if got := fmt.Sprint(rec.requests()); got != "[[a0 a1 a2 b0 b1] [a2 b1]]" {
		t.Fatalf("requests = %s", got)
	}
	if got := testutil.ToFloat64(h.m.Discarded("rejected")); got != 1 {
		t.Fatalf("discarded = %v", got)
	}
	if got := testutil.ToFloat64(h.m.SentEvents); got != 4 {
		t.Fatalf("sent = %v", got)
	}
	h.closeAndWait()
}

func TestPartialResultCountsReasons(t *testing.T) {
	rec := &recorder{answer: func(n int, req *batch.Request) error {
		return &retry.PartialError{
			Outcomes: []batch.Outcome{batch.Refused, batch.Refused, batch.Accepted, batch.Refused, batch.Refused},
			Reasons:  []string{"too_large", "", "ignored", "mapper_parsing_exception", "too_large"},
			Err:      errors.New("item errors"),
		}
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 5, MaxBytes: 1 << 20, Timeout: time.Hour},
		Request: fastRequest(1), Encoder: codec.Array{}, Sender: rec})
	h.send(h.batch("a", 5))
	if !h.ack() {
		t.Fatal("ack not ok")
	}
	for reason, want := range map[string]float64{"too_large": 2, "rejected": 1, "mapper_parsing_exception": 1, "ignored": 0} {
		if got := testutil.ToFloat64(h.m.Discarded(reason)); got != want {
			t.Errorf("discarded{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if got := testutil.ToFloat64(h.m.SentEvents); got != 1 {
		t.Fatalf("sent = %v", got)
	}
	if got := len(rec.requests()); got != 1 {
		t.Fatalf("%d requests; refused events were retried", got)
	}
	h.closeAndWait()
}

func TestPartialWithWrongOutcomeCountIsRetried(t *testing.T) {
	rec := &recorder{answer: func(n int, req *batch.Request) error {
		if n == 0 {
			return &retry.PartialError{Outcomes: []batch.Outcome{batch.Refused}}
		}
		return nil
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 5, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: fastRequest(1), Sender: rec})
	h.send(h.batch("a", 3))
	if !h.ack() {
		t.Fatal("ack not ok")
	}
	if got := fmt.Sprint(rec.requests()); got != "[[a0 a1 a2] [a0 a1 a2]]" {
		t.Fatalf("requests = %s", got)
	}
	if got := testutil.ToFloat64(h.m.Discarded("rejected")); got != 0 {
		t.Fatalf("discarded = %v", got)
	}
	h.closeAndWait()
}

func TestRetryMaxElapsedGivesUp(t *testing.T) {
	rec := &recorder{answer: func(int, *batch.Request) error { return errors.New("down") }}
	req := fastRequest(1)
	req.RetryMaxElapsed = 30 * time.Millisecond
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 5, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: req, Sender: rec})
	h.send(h.batch("a", 3))
	if !h.ack() {
		t.Fatal("a request that ran out of retries must be released as Rejected (ok)")
	}
	if got := testutil.ToFloat64(h.m.Discarded(ReasonRetriesExhausted)); got != 3 {
		t.Fatalf("discarded = %v", got)
	}
	if len(rec.requests()) < 2 {
		t.Fatal("no retry before giving up")
	}
	h.closeAndWait()
}

func TestRequestTimeoutIsTransient(t *testing.T) {
	rec := &recorder{answer: func(n int, _ *batch.Request) error {
		return nil
	}}
	var calls atomic.Int32
	slowOnce := SenderFunc(func(ctx context.Context, req *batch.Request) error {
		if calls.Add(1) == 1 {
			<-ctx.Done() // the per-attempt timeout
			return ctx.Err()
		}
		return rec.Send(ctx, req)
	})
	req := fastRequest(1)
	req.Timeout = 20 * time.Millisecond
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 5, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: req, Sender: slowOnce})
	h.send(h.batch("a", 2))
	if !h.ack() {
		t.Fatal("ack not ok")
	}
	if calls.Load() != 2 {
		t.Fatalf("%d attempts", calls.Load())
	}
	h.closeAndWait()
}

// logRecorder keeps log records.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) atLeast(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.Level >= level {
			s := r.Level.String() + " " + r.Message
			r.Attrs(func(a slog.Attr) bool {
				if r.Level == slog.LevelInfo && (a.Key == "failures" || a.Key == "events") {
					s += fmt.Sprintf(" %s=%v", a.Key, a.Value)
				}
				return true
			})
			out = append(out, s)
		}
	}
	return out
}

func TestLogsOncePerStreak(t *testing.T) {
	logs := &logRecorder{}
	rec := &recorder{answer: func(n int, _ *batch.Request) error {
		switch {
		case n < 5:
			return errors.New("connection refused")
		case n < 8:
			return retry.Permanent(errors.New("400 bad request"))
		}
		return nil
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 1, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: fastRequest(1), Sender: rec, Logger: slog.New(logs)})
	// Request 0 fails 5 times, then is refused (n=5); requests 1 and 2 are
	// refused; request 3 gets through.
	for i := range 4 {
		h.send(h.batch(fmt.Sprint(i, "-"), 1))
		h.ack()
	}
	h.closeAndWait()
	want := fmt.Sprint([]string{
		"WARN sending failed, retrying until it succeeds",
		"ERROR destination refused events, discarding them",
		"INFO sending works again failures=5 events=5",
		"INFO destination accepts events again failures=3 events=3",
	})
	if got := fmt.Sprint(logs.atLeast(slog.LevelInfo)); got != want {
		t.Fatalf("logs:\n%s\nwant\n%s", got, want)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	good := Options{Batch: batch.DefaultConfig(), Request: DefaultRequestConfig(), Sender: &recorder{}}
	if _, err := New(good); err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.Sender = nil
	if _, err := New(bad); err == nil {
		t.Error("no Sender accepted")
	}
	bad = good
	bad.Request.Concurrency = 0
	if _, err := New(bad); err == nil || err.Error() != "request.concurrency: must be between 1 and 1024, got 0" {
		t.Errorf("err = %v", err)
	}
}

func TestRequestConfigValidate(t *testing.T) {
	if err := DefaultRequestConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	mod := func(f func(*RequestConfig)) RequestConfig { c := DefaultRequestConfig(); f(&c); return c }
	cases := map[string]RequestConfig{
		"concurrency":           mod(func(c *RequestConfig) { c.Concurrency = 5000 }),
		"timeout":               mod(func(c *RequestConfig) { c.Timeout = 0 }),
		"retry_initial_backoff": mod(func(c *RequestConfig) { c.RetryInitialBackoff = 0 }),
		"retry_max_backoff":     mod(func(c *RequestConfig) { c.RetryMaxBackoff = time.Millisecond }),
		"retry_max_elapsed":     mod(func(c *RequestConfig) { c.RetryMaxElapsed = -1 }),
	}
	for field, c := range cases {
		err := c.Validate()
		if err == nil || err.Error()[:len(field)] != field {
			t.Errorf("%s: Validate = %v", field, err)
		}
	}
}

func TestReportsDeliveryHealth(t *testing.T) {
	rep := health.NewReporter("sink", "test", "out", nil)
	seen, release := make(chan struct{}), make(chan struct{})
	rec := &recorder{answer: func(n int, _ *batch.Request) error {
		switch {
		case n == 2:
			close(seen)
			<-release
			return errors.New("connection refused")
		case n < 2:
			return errors.New("connection refused")
		case n == 3:
			return retry.Permanent(errors.New("400 bad request"))
		}
		return nil
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 1, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: fastRequest(1), Sender: rec, Health: rep})
	h.send(h.batch("a-", 1))
	<-seen
	conds := rep.Conditions()
	if len(conds) != 1 || conds[0].Name != health.ConditionDelivery || conds[0].State != health.Failing ||
		!strings.Contains(conds[0].Message, "connection refused") {
		t.Fatalf("while sending fails: %+v", conds)
	}
	close(release)
	h.ack() // request 0 refused at attempt n=3
	if conds := rep.Conditions(); len(conds) == 0 || conds[len(conds)-1].Name != health.ConditionRejections ||
		conds[len(conds)-1].State != health.Degraded || conds[len(conds)-1].Reason != ReasonRejected {
		t.Fatalf("after a refusal: %+v", conds)
	}
	h.send(h.batch("b-", 1))
	h.ack()
	if rep.State() != health.OK {
		t.Fatalf("after a delivery: %+v", rep.Conditions())
	}
	h.closeAndWait()
}
