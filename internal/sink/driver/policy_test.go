package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
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

func hasPoison(req *batch.Request) bool {
	for _, e := range req.Events() {
		if strings.Contains(string(e.Message), "poison") {
			return true
		}
	}
	return false
}

func TestTooLargeSplitsInHalvesInOrder(t *testing.T) {
	logs := &sinktest.Logs{}
	rec := &recorder{answer: func(_ int, req *batch.Request) error {
		if req.Len() > 2 {
			return fmt.Errorf("pushing: %w", &httpclient.StatusError{Code: http.StatusRequestEntityTooLarge})
		}
		return nil
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 10, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: fastRequest(1), Encoder: codec.Lines{}, Sender: rec, Component: component.Context{Logger: logs.Logger()}})
	h.Send(batchOf("a", 7)...)
	if !h.Ack() {
		t.Fatal("ack not ok")
	}
	h.Close()
	want := "[[a0 a1 a2 a3 a4 a5 a6] [a0 a1 a2] [a0] [a1 a2] [a3 a4 a5 a6] [a3 a4] [a5 a6]]"
	if got := fmt.Sprint(rec.requests()); got != want {
		t.Fatalf("requests = %s, want %s", got, want)
	}
	if got := h.m().sent(); got != 7 {
		t.Fatalf("sent = %v", got)
	}
	if got := h.m().retries(); got != 0 {
		t.Fatalf("splits counted as %v retries", got)
	}
	warns := 0
	for _, ln := range logs.Lines(slog.LevelWarn) {
		if strings.Contains(ln.Message, "too large") {
			warns++
		}
	}
	if warns != 1 {
		t.Fatalf("%d warnings about the request size, want 1", warns)
	}
}

func TestSingleEventTooLargeIsRejected(t *testing.T) {
	rec := &recorder{answer: func(_ int, req *batch.Request) error {
		for _, e := range req.Events() {
			if len(e.Message) > 10 {
				return retry.TooLarge(fmt.Errorf("entry of %d bytes", len(e.Message)))
			}
		}
		return nil
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 10, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: fastRequest(1), Encoder: codec.Lines{}, Sender: rec})
	evs := batchOf("a", 4)
	evs[2].Message = []byte("a much longer message")
	h.Send(evs...)
	if !h.Ack() {
		t.Fatal("ack not ok")
	}
	h.Close()
	letters := h.dead.Letters()
	if len(letters) != 1 || letters[0].Message != "a much longer message" || letters[0].Reason != "too_large" ||
		letters[0].Error != "entry of 21 bytes" {
		t.Fatalf("dead letters = %+v", letters)
	}
	if got := h.m().discarded("too_large"); got != 1 {
		t.Fatalf("discarded{too_large} = %v", got)
	}
	if got := h.m().sent(); got != 3 {
		t.Fatalf("sent = %v", got)
	}
}

func TestBadRequestBisectsToTheEventsAtFault(t *testing.T) {
	rec := &recorder{answer: func(_ int, req *batch.Request) error {
		if hasPoison(req) {
			return &httpclient.StatusError{Code: http.StatusBadRequest, Body: "invalid line"}
		}
		return nil
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 16, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: fastRequest(1), Encoder: codec.Lines{}, Sender: rec})
	evs := batchOf("a", 16)
	evs[5].Message, evs[11].Message = []byte("poison-5"), []byte("poison-11")
	h.Send(evs...)
	if !h.Ack() {
		t.Fatal("ack not ok")
	}
	h.Close()
	var delivered []string
	for _, r := range rec.requests() {
		if !slices.ContainsFunc(r, func(m string) bool { return strings.HasPrefix(m, "poison") }) {
			delivered = append(delivered, r...)
		}
	}
	if len(delivered) != 14 || slices.Contains(delivered, "poison-5") {
		t.Fatalf("delivered %v", delivered)
	}
	if n := len(rec.requests()); n > 2*16 {
		t.Fatalf("%d requests to isolate 2 bad events of 16", n)
	}
	letters := h.dead.Letters()
	if len(letters) != 2 || letters[0].Message != "poison-5" || letters[1].Message != "poison-11" {
		t.Fatalf("dead letters = %+v", letters)
	}
	for _, l := range letters {
		if l.Reason != "bad_request" || l.Status != 400 || l.Error != "HTTP 400 Bad Request: invalid line" || l.Sink != "test" {
			t.Fatalf("dead letter = %+v", l)
		}
	}
	if got := h.m().discarded("bad_request"); got != 2 {
		t.Fatalf("discarded{bad_request} = %v", got)
	}
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
	h.Send(batchOf("a", 3)...)
	h.Send(batchOf("b", 2)...)
	if !h.Ack() || !h.Ack() {
		t.Fatal("ack not ok")
	}
	if got := fmt.Sprint(rec.requests()); got != "[[a0 a1 a2 b0 b1] [a2 b1]]" {
		t.Fatalf("requests = %s", got)
	}
	if got := h.m().discarded("rejected"); got != 1 {
		t.Fatalf("discarded = %v", got)
	}
	if got := h.m().sent(); got != 4 {
		t.Fatalf("sent = %v", got)
	}
	if l := h.dead.Letters(); len(l) != 1 || l[0].Message != "a1" || l[0].Reason != "rejected" {
		t.Fatalf("dead letters = %+v", l)
	}
	h.Close()
}

func TestPartialResultReasonsCausesAndSplits(t *testing.T) {
	rec := &recorder{answer: func(n int, req *batch.Request) error {
		if n > 0 {
			if req.Len() > 1 {
				return retry.TooLarge(errors.New("still too large"))
			}
			return nil
		}
		mapping := &retry.Error{Class: retry.ClassReject, Status: 400, Err: errors.New("failed to parse field [n]")}
		return &retry.PartialError{
			Outcomes: []batch.Outcome{batch.Refused, batch.Refused, batch.Accepted, batch.Split, batch.Refused, batch.Split},
			Reasons:  []string{"too_large", "", "ignored", "", "mapper_parsing_exception", ""},
			Causes:   []error{nil, nil, nil, nil, mapping, nil},
			Err:      errors.New("item errors"),
		}
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 6, MaxBytes: 1 << 20, Timeout: time.Hour},
		Request: fastRequest(1), Encoder: codec.Lines{}, Sender: rec})
	h.Send(batchOf("a", 6)...)
	if !h.Ack() {
		t.Fatal("ack not ok")
	}
	h.Close()
	for reason, want := range map[string]float64{"too_large": 1, "rejected": 1, "mapper_parsing_exception": 1, "ignored": 0} {
		if got := h.m().discarded(reason); got != want {
			t.Errorf("discarded{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if got := fmt.Sprint(rec.requests()); got != "[[a0 a1 a2 a3 a4 a5] [a3] [a5]]" {
		t.Fatalf("requests = %s", got)
	}
	if got := h.m().sent(); got != 3 {
		t.Fatalf("sent = %v", got)
	}
	var got []string
	for _, l := range h.dead.Letters() {
		got = append(got, fmt.Sprintf("%s %s %d %s", l.Message, l.Reason, l.Status, l.Error))
	}
	want := []string{"a0 too_large 0 item errors", "a1 rejected 0 item errors", "a4 mapper_parsing_exception 400 failed to parse field [n]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("dead letters:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
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
	h.Send(batchOf("a", 3)...)
	if !h.Ack() {
		t.Fatal("ack not ok")
	}
	if got := fmt.Sprint(rec.requests()); got != "[[a0 a1 a2] [a0 a1 a2]]" {
		t.Fatalf("requests = %s", got)
	}
	if got := h.m().discarded("rejected"); got != 0 {
		t.Fatalf("discarded = %v", got)
	}
	h.Close()
}

// failingOutput is a dead-letter output whose consumer gives up.
type failingOutput struct{}

func (failingOutput) Emit(_ context.Context, b *event.Batch) error {
	b.Ack.Retain(1)
	b.Ack.Release(event.Failed)
	return nil
}

func TestUndeliveredDeadLetterKeepsTheSourceBack(t *testing.T) {
	cctx := sinktest.Context(t, "test")
	cctx.Outputs = map[string]component.Emitter{deadletter.Output: failingOutput{}}
	rec := &recorder{answer: func(int, *batch.Request) error { return retry.Reject("invalid", errors.New("no")) }}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 5, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: fastRequest(1), Sender: rec, Component: cctx})
	h.Send(batchOf("a", 2)...)
	if h.Ack() {
		t.Fatal("a batch whose dead letters were not delivered was released ok")
	}
	if got := testutil.ToFloat64(cctx.Metrics.Errors("dead_letter")); got != 1 {
		t.Fatalf("errors{stage=dead_letter} = %v", got)
	}
	h.Close()
}

func TestRetryMaxElapsedDeadLetters(t *testing.T) {
	rec := &recorder{answer: func(int, *batch.Request) error { return errors.New("down") }}
	req := fastRequest(1)
	req.RetryMaxElapsed = 30 * time.Millisecond
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 5, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: req, Sender: rec})
	h.Send(batchOf("a", 3)...)
	if !h.Ack() {
		t.Fatal("a request that ran out of retries must be released as Rejected (ok)")
	}
	if got := h.m().discarded(ReasonRetriesExhausted); got != 3 {
		t.Fatalf("discarded = %v", got)
	}
	if len(rec.requests()) < 2 {
		t.Fatal("no retry before giving up")
	}
	letters := h.dead.Letters()
	if len(letters) != 3 || letters[0].Reason != ReasonRetriesExhausted || !strings.Contains(letters[0].Error, "retry_max_elapsed") {
		t.Fatalf("dead letters = %+v", letters)
	}
	h.Close()
}

func TestUnauthorizedIsRetriedAndReportedWithTheBacklog(t *testing.T) {
	logs := &sinktest.Logs{}
	cctx := sinktest.Context(t, "test")
	cctx.Logger = logs.Logger()
	// The topology's queue holds 42 events.
	cctx.Metrics.BufferEvents.Set(42)
	t.Cleanup(func() { cctx.Metrics.BufferEvents.Set(0) })
	var fixed atomic.Bool
	rec := &recorder{answer: func(int, *batch.Request) error {
		if !fixed.Load() {
			return fmt.Errorf("pushing: %w", &httpclient.StatusError{Code: http.StatusUnauthorized, Body: "invalid token"})
		}
		return nil
	}}
	h := newHarness(t, Options{Batch: batch.Config{MaxEvents: 5, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: fastRequest(1), Sender: rec, Component: cctx, Remind: 20 * time.Millisecond})
	h.Send(batchOf("a", 3)...)
	sinktest.WaitFor(t, "a reminder", func() bool {
		for _, ln := range logs.Lines(slog.LevelWarn) {
			if strings.HasPrefix(ln.Message, "still failing") {
				return true
			}
		}
		return false
	})
	conds := cctx.Health.Conditions()
	if len(conds) != 1 || conds[0].Name != health.ConditionDelivery || conds[0].Reason != "unauthorized" {
		t.Fatalf("health = %+v", conds)
	}
	if got := testutil.ToFloat64(cctx.Metrics.DeliveryFailures("unauthorized")); got < 2 {
		t.Fatalf("delivery_failures{unauthorized} = %v", got)
	}
	if _, released := h.Acked(); released {
		t.Fatal("released while the credentials were refused")
	}
	first := logs.Lines(slog.LevelWarn)[0]
	if first.Attrs["reason"] != "unauthorized" || first.Attrs["backlog"] != "42" || !strings.Contains(first.Attrs["hint"], "credentials") {
		t.Fatalf("first log line %+v", first)
	}
	for _, ln := range logs.Lines(slog.LevelWarn) {
		if strings.HasPrefix(ln.Message, "still failing") && ln.Attrs["backlog"] != "42" {
			t.Fatalf("reminder without the backlog: %+v", ln)
		}
	}
	fixed.Store(true)
	if !h.Ack() {
		t.Fatal("ack not ok")
	}
	if cctx.Health.State() != health.OK || h.m().sent() != 3 || sinktest.SumDiscarded(t, cctx.Metrics) != 0 {
		t.Fatalf("after the fix: health %+v, sent %v", cctx.Health.Conditions(), h.m().sent())
	}
	if v, _ := logs.Attr("sending works again", "backlog"); v != "42" {
		t.Fatalf("recovery line backlog = %q", v)
	}
	if got := testutil.ToFloat64(cctx.Metrics.LastDelivery()); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("last delivery = %v", got)
	}
	h.Close()
}

// prober is a Prober that fails until up.
type prober struct {
	up     *atomic.Bool
	probes atomic.Int32
}

func (p *prober) Probe(context.Context) error {
	p.probes.Add(1)
	if p.up.Load() {
		return nil
	}
	return errors.New("connection refused")
}

// probed runs a driver with p and a backoff far longer than the tests
// wait: only a wake-up sends a retry within them.
func probed(t *testing.T, rec *recorder, p *prober) *harness {
	req := fastRequest(1)
	req.RetryInitialBackoff, req.RetryMaxBackoff, req.ProbeInterval = time.Minute, time.Minute, 100*time.Millisecond
	return newHarness(t, Options{Batch: batch.Config{MaxEvents: 5, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: req, Sender: rec, Prober: p})
}

func TestProbeWakesTheRetriesWhenTheDestinationIsBack(t *testing.T) {
	var up atomic.Bool
	rec := &recorder{answer: func(int, *batch.Request) error {
		if !up.Load() {
			return errors.New("connection refused")
		}
		return nil
	}}
	p := &prober{up: &up}
	h := probed(t, rec, p)
	h.Send(batchOf("a", 3)...)
	sinktest.WaitFor(t, "a failed probe", func() bool { return p.probes.Load() >= 2 })
	up.Store(true)
	began := time.Now()
	if !h.Ack() {
		t.Fatal("ack not ok")
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("delivered %s after the destination came back", took)
	}
	if n := len(rec.requests()); n != 2 {
		t.Fatalf("%d requests", n)
	}
	h.Close()
}

func TestProbeThatNeverFailedWakesNothing(t *testing.T) {
	var up atomic.Bool
	up.Store(true) // the probe answers, the sends fail (a 404 that the probe cannot see)
	rec := &recorder{answer: func(int, *batch.Request) error { return &httpclient.StatusError{Code: http.StatusNotFound} }}
	p := &prober{up: &up}
	h := probed(t, rec, p)
	h.Send(batchOf("a", 1)...)
	sinktest.WaitFor(t, "several probes", func() bool { return p.probes.Load() >= 4 })
	if n := len(rec.requests()); n != 1 {
		t.Fatalf("%d sends: a probe that never failed woke the retry", n)
	}
	h.Cancel()
	if h.Ack() {
		t.Fatal("ack ok after cancel")
	}
}

// sleepyHarness runs rec with one event a request, three in flight, and
// backoffs of 5s and more: only a wake-up delivers within a test.
func sleepyHarness(t *testing.T, rec *recorder) *harness {
	req := fastRequest(3)
	req.RetryInitialBackoff, req.RetryMaxBackoff = 10*time.Second, time.Minute
	return newHarness(t, Options{Batch: batch.Config{MaxEvents: 1, MaxBytes: 1 << 20, Timeout: time.Millisecond},
		Request: req, Sender: rec})
}

func TestDeliveryWakesOtherSleepingRetries(t *testing.T) {
	var up atomic.Bool
	rec := &recorder{answer: func(n int, req *batch.Request) error {
		if !up.Load() {
			return errors.New("connection refused")
		}
		return nil
	}}
	h := sleepyHarness(t, rec)
	h.Send(batchOf("a", 1)...)
	h.Send(batchOf("b", 1)...)
	sinktest.WaitFor(t, "both requests failing", func() bool { return len(rec.requests()) >= 2 })
	up.Store(true)
	began := time.Now()
	h.Send(batchOf("c", 1)...) // gets through at its first attempt
	for range 3 {
		if !h.Ack() {
			t.Fatal("ack not ok")
		}
	}
	if took := time.Since(began); took > 4*time.Second {
		t.Fatalf("the sleeping retries were sent %s after a delivery", took)
	}
	h.Close()
}

// A request whose failure is answered after another request was delivered
// (the destination came back while it was under way) is sent again at
// once, not after its backoff: the wake-up it would have slept through
// already happened.
func TestFailureAnsweredAfterADeliveryIsRetriedAtOnce(t *testing.T) {
	var up atomic.Bool
	release := make(chan struct{})
	var bFailed atomic.Bool
	rec := &recorder{answer: func(n int, req *batch.Request) error {
		if messages(req)[0] == "b0" && bFailed.CompareAndSwap(false, true) {
			<-release // answered after the first delivery
			return errors.New("connection reset")
		}
		if !up.Load() {
			return errors.New("connection refused")
		}
		return nil
	}}
	h := sleepyHarness(t, rec)
	h.Send(batchOf("a", 1)...)
	sinktest.WaitFor(t, "a failing", func() bool { return len(rec.requests()) >= 1 })
	h.Send(batchOf("b", 1)...)
	sinktest.WaitFor(t, "b under way", func() bool { return len(rec.requests()) >= 2 })
	up.Store(true)
	began := time.Now()
	h.Send(batchOf("c", 1)...)
	// c is delivered and wakes a, which is delivered too; b's failure is
	// answered after both, when no sleeper is left to be woken.
	for range 2 {
		if !h.Ack() {
			t.Fatal("ack not ok")
		}
	}
	close(release)
	if !h.Ack() {
		t.Fatal("ack not ok")
	}
	if took := time.Since(began); took > 4*time.Second {
		t.Fatalf("a request that failed while another was delivered was sent again %s later", took)
	}
	h.Close()
}
