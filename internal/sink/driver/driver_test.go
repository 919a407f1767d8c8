package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/deadletter"
	"github.com/drover-dev/drover/internal/sink/retry"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// memDest is a destination in memory that answers the way an HTTP
// endpoint does. It decodes each request's NDJSON body, so the suite also
// checks what the driver hands to the Sender.
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
	case sinktest.Unauthorized:
		return &httpclient.StatusError{Code: http.StatusUnauthorized}
	case sinktest.Refuse:
		return &httpclient.StatusError{Code: http.StatusBadRequest, Body: "bad request"}
	case sinktest.TooLarge:
		if req.Len() > 2 {
			return &httpclient.StatusError{Code: http.StatusRequestEntityTooLarge}
		}
	case sinktest.RefusePoison:
		if bytes.Contains(req.Body, []byte(sinktest.Poison)) {
			return &httpclient.StatusError{Code: http.StatusBadRequest, Body: "a line is poisoned"}
		}
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
			sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, cctx component.Context) (component.Sink, sinktest.Destination) {
				dest := &memDest{}
				d, err := New(Options{Batch: tc.batch, Request: fastRequest(1), Encoder: codec.Lines{}, Sender: dest, Component: cctx})
				if err != nil {
					t.Fatal(err)
				}
				return driverSink{d}, dest
			}})
		})
	}
}

// harness runs a driver with a Sender.
type harness struct {
	*sinktest.Runner
	t    *testing.T
	d    *Driver
	cctx component.Context
	dead *sinktest.DeadLetters
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	h := &harness{t: t, dead: sinktest.NewDeadLetters()}
	if o.Component.Metrics == nil {
		logger, rep := o.Component.Logger, o.Component.Health
		o.Component = sinktest.Context(t, "test")
		o.Component.Outputs = map[string]component.Emitter{deadletter.Output: h.dead}
		if logger != nil {
			o.Component.Logger = logger
		}
		if rep != nil {
			o.Component.Health = rep
		}
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.d, h.cctx = d, o.Component
	h.Runner = sinktest.Start(t, driverSink{d}, h.dead.Release)
	return h
}

func (h *harness) m() *metricsView { return &metricsView{h.cctx} }

// metricsView reads the driver's metrics.
type metricsView struct{ cctx component.Context }

func (v *metricsView) discarded(reason string) float64 {
	return testutil.ToFloat64(v.cctx.Metrics.Discarded(reason))
}
func (v *metricsView) sent() float64    { return testutil.ToFloat64(v.cctx.Metrics.SentEvents) }
func (v *metricsView) retries() float64 { return testutil.ToFloat64(v.cctx.Metrics.Retries) }

func batchOf(prefix string, n int) []event.Event {
	var evs []event.Event
	for i := range n {
		evs = append(evs, event.Event{Message: fmt.Appendf(nil, "%s%d", prefix, i)})
	}
	return evs
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
	h.Send(batchOf("a", 2)...)
	h.Send(batchOf("b", 3)...)
	h.Ack()
	h.Ack()
	reqs := rec.requests()
	if fmt.Sprint(reqs) != "[[a0 a1 b0 b1 b2]]" {
		t.Fatalf("requests = %v", reqs)
	}
	if waited := rec.times[0].Sub(began); waited < 100*time.Millisecond {
		t.Fatalf("partial request sent after %s, before batch.timeout", waited)
	}
	h.Close()
}

func TestZeroTimeoutSendsWithoutWaiting(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 100, MaxBytes: 1 << 20, Timeout: 0},
		Request: fastRequest(1), Sender: rec})
	h.Send(batchOf("a", 2)...)
	// The input stays open: only the zero timeout can send this request.
	if !h.Ack() {
		t.Fatal("ack not ok")
	}
	if fmt.Sprint(rec.requests()) != "[[a0 a1]]" {
		t.Fatalf("requests = %v", rec.requests())
	}
	h.Close()
}

func TestMaxEventsSplitsBatch(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 4, MaxBytes: 1 << 20, Timeout: time.Hour},
		Request: fastRequest(1), Sender: rec})
	h.Send(batchOf("a", 10)...)
	h.Close()
	if !h.Ack() {
		t.Fatal("ack not ok")
	}
	if got := fmt.Sprint(rec.requests()); got != "[[a0 a1 a2 a3] [a4 a5 a6 a7] [a8 a9]]" {
		t.Fatalf("requests = %s", got)
	}
	if got := testutil.ToFloat64(h.cctx.Metrics.SentEvents); got != 10 {
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
		h.Send(batchOf(fmt.Sprint("b", i, "-"), 1)...)
	}
	deadline := time.Now().Add(10 * time.Second)
	for inflight.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("three requests never in flight")
		}
		time.Sleep(time.Millisecond)
	}
	if h.Offer(50*time.Millisecond, batchOf("late", 1)...) {
		t.Fatal("driver took input although every request slot was busy and the next request full")
	}
	// The sink's requests-in-flight gauge shows the three.
	if got := testutil.ToFloat64(h.cctx.Metrics.InFlight); got != 3 {
		t.Fatalf("requests in flight gauge = %v, want 3", got)
	}
	close(release)
	h.Close()
	for range 4 {
		if !h.Ack() {
			t.Fatal("ack not ok")
		}
	}
	if got := testutil.ToFloat64(h.cctx.Metrics.InFlight); got != 0 {
		t.Fatalf("requests in flight gauge = %v after every verdict, want 0", got)
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
	h.Send(batchOf("a", 1)...)
	if !h.Ack() {
		t.Fatal("ack not ok")
	}
	if gap := rec.times[1].Sub(rec.times[0]); gap < 300*time.Millisecond {
		t.Fatalf("retried after %s despite Retry-After of 300ms", gap)
	}
	if got := testutil.ToFloat64(h.cctx.Metrics.Retries); got != 1 {
		t.Fatalf("retries = %v", got)
	}
	h.Close()
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
	h.Send(batchOf("a", 2)...)
	if !h.Ack() {
		t.Fatal("ack not ok")
	}
	if calls.Load() != 2 {
		t.Fatalf("%d attempts", calls.Load())
	}
	h.Close()
}

func TestLogsOncePerStreak(t *testing.T) {
	logs := &sinktest.Logs{}
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
		Request: fastRequest(1), Sender: rec, Component: component.Context{Logger: logs.Logger()}})
	// Request 0 fails 5 times, then is refused (n=5); requests 1 and 2 are
	// refused; request 3 gets through.
	for i := range 4 {
		h.Send(batchOf(fmt.Sprint(i, "-"), 1)...)
		h.Ack()
	}
	h.Close()
	var got []string
	for _, ln := range logs.Lines(slog.LevelInfo) {
		s := ln.Level.String() + " " + ln.Message
		if ln.Level == slog.LevelInfo {
			s += " failures=" + ln.Attrs["failures"] + " events=" + ln.Attrs["events"]
		}
		got = append(got, s)
	}
	want := []string{
		"WARN sending failed; events wait in the input and are sent again until the destination takes them",
		"ERROR destination refused events; they go to the dead-letter output",
		"INFO sending works again failures=5 events=5",
		"INFO destination accepts events again failures=3 events=3",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("logs:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
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
		Request: fastRequest(1), Sender: rec, Component: component.Context{Health: rep}})
	h.Send(batchOf("a-", 1)...)
	<-seen
	conds := rep.Conditions()
	if len(conds) != 1 || conds[0].Name != health.ConditionDelivery || conds[0].State != health.Failing ||
		!strings.Contains(conds[0].Message, "connection refused") {
		t.Fatalf("while sending fails: %+v", conds)
	}
	close(release)
	h.Ack() // request 0 refused at attempt n=3
	if conds := rep.Conditions(); len(conds) == 0 || conds[len(conds)-1].Name != health.ConditionRejections ||
		conds[len(conds)-1].State != health.Degraded || conds[len(conds)-1].Reason != ReasonRejected {
		t.Fatalf("after a refusal: %+v", conds)
	}
	h.Send(batchOf("b-", 1)...)
	h.Ack()
	if rep.State() != health.OK {
		t.Fatalf("after a delivery: %+v", rep.Conditions())
	}
	h.Close()
}

// With SendWhenIdle, a request that is not full goes out once it waited
// IdleLinger while nothing is in flight, not after batch.timeout.
func TestSendWhenIdleSendsBeforeTimeout(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 100, MaxBytes: 1 << 20, Timeout: time.Hour},
		Request: fastRequest(2), Sender: rec, SendWhenIdle: true})
	began := time.Now()
	h.Send(batchOf("a", 2)...)
	h.Send(batchOf("b", 3)...)
	if !h.Ack() || !h.Ack() {
		t.Fatal("ack not ok")
	}
	reqs := rec.requests()
	if fmt.Sprint(reqs) != "[[a0 a1 b0 b1 b2]]" {
		t.Fatalf("requests = %v", reqs)
	}
	if waited := rec.times[0].Sub(began); waited < IdleLinger(time.Hour) {
		t.Fatalf("partial request sent after %s, before it lingered", waited)
	}
	h.Close()
}

// While a request is in flight, the next one keeps filling: it goes out
// when the first one ends (the sink is idle again), with everything that
// came meanwhile, not batch by batch.
func TestSendWhenIdleFillsWhileInFlight(t *testing.T) {
	release := make(chan struct{})
	rec := &recorder{answer: func(n int, _ *batch.Request) error {
		if n == 0 {
			<-release
		}
		return nil
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 100, MaxBytes: 1 << 20, Timeout: time.Hour},
		Request: fastRequest(4), Sender: rec, SendWhenIdle: true})
	h.Send(batchOf("a", 1)...)
	waitUntil(t, func() bool { return len(rec.requests()) == 1 })
	for i := range 5 {
		h.Send(batchOf(fmt.Sprintf("b%d-", i), 1)...)
	}
	// Well past the linger, the second request still waits for the first.
	time.Sleep(3 * IdleLinger(time.Hour))
	if n := len(rec.requests()); n != 1 {
		t.Fatalf("%d requests sent while the first was in flight: %v", n, rec.requests())
	}
	close(release)
	for range 6 {
		if !h.Ack() {
			t.Fatal("ack not ok")
		}
	}
	if got := fmt.Sprint(rec.requests()); got != "[[a0] [b0-0 b1-0 b2-0 b3-0 b4-0]]" {
		t.Fatalf("requests = %s", got)
	}
	h.Close()
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// streamBatch is n events of one stream (its Meta), named prefix0...
func streamBatch(m *event.Meta, prefix string, n int) []event.Event {
	evs := batchOf(prefix, n)
	for i := range evs {
		evs[i].Meta = m
	}
	return evs
}

// With OrderByStream, a request of a stream that is in flight waits, while
// requests of other streams go out beside it.
func TestOrderByStreamHoldsOnlyTheBusyStream(t *testing.T) {
	release := make(chan struct{})
	rec := &recorder{answer: func(n int, _ *batch.Request) error {
		if n == 0 {
			<-release
		}
		return nil
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 1, MaxBytes: 1 << 20, Timeout: time.Hour},
		Request: fastRequest(4), Sender: rec, OrderByStream: true})
	a, b := &event.Meta{}, &event.Meta{}
	h.Send(streamBatch(a, "a", 1)...)
	waitUntil(t, func() bool { return len(rec.requests()) == 1 })
	h.Send(streamBatch(a, "a-next", 1)...)
	h.Send(streamBatch(b, "b", 1)...)
	// b's request cannot go out before a's second one is taken, which waits
	// for a's first: none of them may pass.
	time.Sleep(50 * time.Millisecond)
	if got := fmt.Sprint(rec.requests()); got != "[[a0]]" {
		t.Fatalf("requests while a's first is in flight: %s", got)
	}
	close(release)
	for range 3 {
		if !h.Ack() {
			t.Fatal("ack not ok")
		}
	}
	// a's second request and b's go out together once a's first is done
	// (in either order).
	got := fmt.Sprint(rec.requests())
	if got != "[[a0] [a-next0] [b0]]" && got != "[[a0] [b0] [a-next0]]" {
		t.Fatalf("requests = %s", got)
	}
	h.Close()
}

// Requests of different streams are in flight together; each stream's
// events are accepted in order even when requests fail and are retried.
func TestOrderByStreamKeepsOrderUnderRetries(t *testing.T) {
	var mu sync.Mutex
	accepted := map[string][]string{}
	var inflight, peak atomic.Int32
	attempts := map[string]int{}
	rec := &recorder{answer: func(_ int, req *batch.Request) error {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		msgs := messages(req)
		mu.Lock()
		attempts[msgs[0]]++
		fail := attempts[msgs[0]] == 1 && len(msgs[0])%2 == 0 // every other request fails once
		mu.Unlock()
		time.Sleep(time.Millisecond)
		if fail {
			return errors.New("try again")
		}
		mu.Lock()
		for _, m := range msgs {
			s := m[:1]
			accepted[s] = append(accepted[s], m)
		}
		mu.Unlock()
		return nil
	}}
	req := fastRequest(4)
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 3, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: req, Sender: rec, OrderByStream: true})
	metas := map[string]*event.Meta{}
	names := []string{"a", "b", "c", "d", "e", "f"}
	for _, s := range names {
		metas[s] = &event.Meta{}
	}
	const rounds = 30
	for i := range rounds {
		for _, s := range names {
			h.Send(streamBatch(metas[s], fmt.Sprintf("%s-%03d-", s, i), 2)...)
		}
	}
	for range rounds * len(names) {
		if !h.Ack() {
			t.Fatal("ack not ok")
		}
	}
	h.Close()
	for _, s := range names {
		var want []string
		for i := range rounds {
			want = append(want, fmt.Sprintf("%s-%03d-0", s, i), fmt.Sprintf("%s-%03d-1", s, i))
		}
		if got := accepted[s]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("stream %s accepted out of order:\n got %v\nwant %v", s, got, want)
		}
	}
	if peak.Load() < 2 {
		t.Errorf("at most %d request in flight: streams did not go out together", peak.Load())
	}
}
