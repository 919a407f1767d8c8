package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/metrics"
)

// records keeps log records with their attributes as text.
type records struct {
	mu    sync.Mutex
	lines []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	s := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "backlog" || a.Key == "reason" {
			s += fmt.Sprintf(" %s=%v", a.Key, a.Value.Resolve())
		}
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, s)
	r.mu.Unlock()
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func TestFailuresAreReportedWithReasonBacklogAndReminders(t *testing.T) {
	logs := &records{}
	m := metrics.ForTest("sink", "test", "out")
	rep := health.NewReporter("sink", "test", "out", nil)
	now := time.Unix(1700000000, 0)
	tr := New(Config{Logger: slog.New(logs), Metrics: m, Health: rep, Remind: time.Minute, Now: func() time.Time { return now }})
	unauthorized := fmt.Errorf("pushing: %w", &httpclient.StatusError{Code: http.StatusUnauthorized})

	m.BufferEvents.Set(7)
	if r := tr.Failed(unauthorized, 3); r != "unauthorized" {
		t.Fatalf("reason %q", r)
	}
	m.BufferEvents.Set(9)
	now = now.Add(30 * time.Second)
	tr.Failed(unauthorized, 3) // repeated: debug
	now = now.Add(31 * time.Second)
	tr.Failed(unauthorized, 3) // a minute since the first: a reminder
	if c := rep.Conditions(); len(c) != 1 || c[0].Name != health.ConditionDelivery || c[0].Reason != "unauthorized" || !tr.Failing() {
		t.Fatalf("health %+v", c)
	}
	if got := testutil.ToFloat64(m.DeliveryFailures("unauthorized")); got != 3 {
		t.Fatalf("delivery_failures = %v", got)
	}
	m.BufferEvents.Set(0)
	tr.Delivered(true)
	if rep.State() != health.OK || tr.Failing() {
		t.Fatalf("after a delivery: %+v", rep.Conditions())
	}
	if got := testutil.ToFloat64(m.LastDelivery()); got != float64(now.Unix()) {
		t.Fatalf("last delivery %v", got)
	}
	want := []string{
		"WARN sending failed; events wait in the input and are sent again until the destination takes them backlog=7 reason=unauthorized",
		"DEBUG sending failed; events wait in the input and are sent again until the destination takes them backlog=9",
		"WARN still failing: sending failed; events wait in the input and are sent again until the destination takes them backlog=9 reason=unauthorized",
		"INFO sending works again backlog=0",
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if fmt.Sprint(logs.lines) != fmt.Sprint(want) {
		t.Fatalf("logs:\n%q\nwant\n%q", logs.lines, want)
	}
}

func TestRefusalsAreCountedByReason(t *testing.T) {
	m := metrics.ForTest("sink", "test", "out")
	rep := health.NewReporter("sink", "test", "out", nil)
	tr := New(Config{Metrics: m, Health: rep})
	tr.Refused("too_old", errors.New("old"), 2)
	tr.Refused("mapper_parsing_exception", errors.New("mapping"), 1)
	if testutil.ToFloat64(m.Discarded("too_old")) != 2 || testutil.ToFloat64(m.Discarded("mapper_parsing_exception")) != 1 {
		t.Fatal("discards not counted by reason")
	}
	if c := rep.Conditions(); len(c) != 1 || c[0].Name != health.ConditionRejections || c[0].State != health.Degraded {
		t.Fatalf("health %+v", c)
	}
	tr.Delivered(false) // a part of a split request: the run goes on
	if rep.State() != health.Degraded {
		t.Fatal("a delivery that was not clean ended the run of refusals")
	}
	tr.Delivered(true)
	if rep.State() != health.OK {
		t.Fatalf("health %+v", rep.Conditions())
	}
}

func TestSleepEndsOnWakeOrContext(t *testing.T) {
	tr := New(Config{})
	woke := make(chan bool)
	go func() { woke <- tr.Sleep(context.Background(), time.Hour, tr.Woken()) }()
	// Wake until the sleeper is woken: it may not sleep yet.
	for done := false; !done; {
		tr.Wake()
		select {
		case ok := <-woke:
			if !ok {
				t.Fatal("Sleep reported an ended context")
			}
			done = true
		case <-time.After(time.Millisecond):
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if tr.Sleep(ctx, time.Hour, tr.Woken()) {
		t.Fatal("Sleep with an ended context reported it alive")
	}
	if !tr.Sleep(context.Background(), time.Millisecond, tr.Woken()) {
		t.Fatal("a full sleep reported an ended context")
	}
}

func TestSleepEndsAtOnceAfterAWakeDuringTheAttempt(t *testing.T) {
	tr := New(Config{})
	woken := tr.Woken() // the attempt begins
	tr.Wake()           // another request is delivered while it is under way
	done := make(chan bool)
	go func() { done <- tr.Sleep(context.Background(), time.Hour, woken) }()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("Sleep reported an ended context")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a failed attempt slept although a delivery woke the sleepers while it was under way")
	}
}

// prober fails while down.
type prober struct {
	down   atomic.Bool
	probes atomic.Int32
}

func (p *prober) Probe(context.Context) error {
	p.probes.Add(1)
	if p.down.Load() {
		return errors.New("connection refused")
	}
	return nil
}

func TestProbeWakesOnceTheDestinationAnswersAgain(t *testing.T) {
	tr := New(Config{})
	p := &prober{}
	p.down.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tr.Probe(ctx, p, 5*time.Millisecond, time.Second) }()
	defer func() { cancel(); <-done }()

	time.Sleep(20 * time.Millisecond)
	if n := p.probes.Load(); n != 0 {
		t.Fatalf("%d probes while nothing failed", n)
	}
	woken := tr.Woken()
	tr.Failed(errors.New("connection refused"), 1)
	for p.probes.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-woken:
		t.Fatal("woken while the probe failed")
	default:
	}
	p.down.Store(false)
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("not woken once the probe answered")
	}
	tr.Delivered(true)
	n := p.probes.Load()
	time.Sleep(20 * time.Millisecond)
	if p.probes.Load() > n+1 {
		t.Fatal("probing went on after the run of failures ended")
	}
}
