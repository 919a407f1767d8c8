// Package sinktest is the conformance suite every sink runs. It checks the
// component.Sink contract against a destination the sink's test controls:
//
//   - Delivers: every event arrives exactly once, the events of each source
//     batch in order; every Ack is released once and ok; Run returns nil
//     once in is closed; sent events are counted; nothing is discarded.
//   - RetriesTransient: while the destination fails transiently nothing is
//     acknowledged and the sink keeps retrying (errors and retries
//     counted); once it recovers everything arrives exactly once.
//   - RefusesPermanent: a destination that refuses permanently is not
//     retried; the events are counted as discarded with reason "rejected"
//     and the Acks released ok (Rejected), so the pipeline moves on.
//   - DrainsOnClose: after in closes, the sink keeps retrying what it holds
//     until it is delivered, and only then returns.
//   - CancelFailsPending: when ctx ends while the destination is failing,
//     Run returns promptly and every batch the sink took is released once,
//     not ok (Failed).
//
// Every check also verifies that the sink leaves no goroutine behind
// (goleak) and does not touch the BufferEvents gauge, which the topology
// owns.
package sinktest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

// Mode is how a Destination answers.
type Mode int

const (
	// Accept: take everything.
	Accept Mode = iota
	// FailTransient: fail every attempt in a way the sink must retry
	// (connection refused, 503, disk full, ...), storing nothing.
	FailTransient
	// Refuse: refuse every attempt permanently (HTTP 400, ...), storing
	// nothing.
	Refuse
)

// Destination is the far end of a sink under test.
type Destination interface {
	// Received returns the messages the destination has accepted so far,
	// in the order they arrived.
	Received() []string
	// SetMode changes how the destination answers from now on. It is
	// called while the sink runs.
	SetMode(Mode)
}

// Harness describes the sink under test.
type Harness struct {
	// New builds a sink that delivers to a fresh Destination, reporting to
	// m. The sink must deliver in order (one request in flight), retry
	// quickly (backoff of a few milliseconds) and send a partly filled
	// batch within a few milliseconds. While its destination fails it must
	// still take at least five events from its input (one small request
	// in flight, another one filling). Resources are released with
	// t.Cleanup.
	New func(t *testing.T, m *metrics.Component) (component.Sink, Destination)
	// NoRefuse skips the checks that need a destination that refuses
	// permanently, for sinks whose destination cannot (stdout).
	NoRefuse bool
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Run("Delivers", func(t *testing.T) { delivers(t, h) })
	t.Run("RetriesTransient", func(t *testing.T) { retriesTransient(t, h) })
	t.Run("RefusesPermanent", func(t *testing.T) {
		if h.NoRefuse {
			t.Skip("the destination cannot refuse")
		}
		refusesPermanent(t, h)
	})
	t.Run("DrainsOnClose", func(t *testing.T) { drainsOnClose(t, h) })
	t.Run("CancelFailsPending", func(t *testing.T) { cancelFailsPending(t, h) })
}

// deadline bounds every wait of the suite.
const deadline = 20 * time.Second

// run is one sink running under the suite.
type run struct {
	t      *testing.T
	m      *metrics.Component
	dest   Destination
	in     chan *event.Batch
	cancel context.CancelFunc
	ctx    context.Context
	done   chan error
	meta   *event.Meta

	mu       sync.Mutex
	sent     [][]string // messages of each batch handed to the sink
	acks     []int      // how often each batch's Ack fired
	ackOK    []bool
	ackAfter []bool // the batch's Ack fired
}

func start(t *testing.T, h Harness, mode Mode) *run {
	t.Helper()
	// Registered first, so it runs after the harness's own cleanups.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	m := metrics.ForTest("sink", "test", t.Name())
	sink, dest := h.New(t, m)
	dest.SetMode(mode)
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{
		t: t, m: m, dest: dest, in: make(chan *event.Batch), ctx: ctx, cancel: cancel, done: make(chan error, 1),
		meta: event.NewMeta("sinktest", event.NewFields(
			event.Field{Key: "host", Value: event.StringValue("node-1")},
			event.Field{Key: "file", Value: event.StringValue("/alloc/logs/web.stdout.0")},
			event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
				event.Field{Key: "job_name", Value: event.StringValue("web")}))},
		)),
	}
	go func() { r.done <- sink.Run(ctx, r.in) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(deadline):
			t.Errorf("Run did not return within %s after its context ended", deadline)
		}
		if v := testutil.ToFloat64(m.BufferEvents); v != 0 {
			t.Errorf("the sink changed BufferEvents to %v; the topology owns that gauge", v)
		}
	})
	return r
}

// send hands batches of the given sizes to the sink, each with unique
// messages. It returns how many it handed over before ctx ended.
func (r *run) send(sizes ...int) int {
	r.t.Helper()
	for _, n := range sizes {
		r.mu.Lock()
		idx := len(r.sent)
		msgs := make([]string, n)
		b := &event.Batch{Events: make([]event.Event, n)}
		for i := range n {
			msgs[i] = fmt.Sprintf("b%03d-e%04d ü \"q\"", idx, i)
			b.Events[i] = event.Event{Timestamp: time.Unix(1700000000, int64(i)), Message: []byte(msgs[i]), Meta: r.meta}
		}
		b.Ack = event.NewAck(func(ok bool) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.acks[idx]++
			r.ackOK[idx] = ok
		})
		r.sent = append(r.sent, msgs)
		r.acks = append(r.acks, 0)
		r.ackOK = append(r.ackOK, false)
		r.mu.Unlock()
		select {
		case r.in <- b:
		case <-r.ctx.Done():
			r.mu.Lock()
			r.sent = r.sent[:idx]
			r.acks, r.ackOK = r.acks[:idx], r.ackOK[:idx]
			r.mu.Unlock()
			return idx
		case <-time.After(deadline):
			r.t.Fatalf("the sink did not take batch %d within %s", idx, deadline)
		}
	}
	return len(sizes)
}

// sendAsync is send on its own goroutine, for sinks that stop taking input
// while the destination fails. wait returns the number handed over.
func (r *run) sendAsync(sizes ...int) (wait func() int) {
	ch := make(chan int, 1)
	go func() { ch <- r.send(sizes...) }()
	return func() int {
		select {
		case n := <-ch:
			return n
		case <-time.After(deadline):
			r.t.Fatalf("sending did not finish within %s", deadline)
			return 0
		}
	}
}

// wait polls cond until it holds or the deadline passes.
func (r *run) wait(what string, cond func() bool) {
	r.t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			r.t.Fatalf("timed out after %s waiting for %s", deadline, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// finish waits for Run to return and checks its result.
func (r *run) finish() {
	r.t.Helper()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Fatalf("Run returned %v", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(deadline):
		r.t.Fatalf("Run did not return within %s", deadline)
	}
}

func (r *run) returned() bool {
	select {
	case err := <-r.done:
		r.done <- err
		return true
	default:
		return false
	}
}

// checkAcks verifies that every batch handed over was acknowledged exactly
// once with ok.
func (r *run) checkAcks(ok bool) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, n := range r.acks {
		if n != 1 {
			r.t.Errorf("Ack of batch %d fired %d times, want once", i, n)
		} else if r.ackOK[i] != ok {
			r.t.Errorf("Ack of batch %d reported ok=%v, want %v", i, r.ackOK[i], ok)
		}
	}
}

func (r *run) acked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.acks {
		n += c
	}
	return n
}

func (r *run) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.sent {
		n += len(b)
	}
	return n
}

// checkReceived verifies that the destination got every message exactly
// once, and the messages of each batch in order.
func (r *run) checkReceived() {
	r.t.Helper()
	got := r.dest.Received()
	r.mu.Lock()
	defer r.mu.Unlock()
	want := map[string]bool{}
	for _, b := range r.sent {
		for _, m := range b {
			want[m] = true
		}
	}
	seen := map[string]bool{}
	lastIndex := map[string]int{}
	for _, m := range got {
		if !want[m] {
			r.t.Errorf("destination received %q, which was not sent", m)
			continue
		}
		if seen[m] {
			r.t.Errorf("destination received %q twice", m)
		}
		seen[m] = true
		batch, idx := parse(m)
		if last, ok := lastIndex[batch]; ok && idx < last {
			r.t.Errorf("batch %s out of order: event %d after %d", batch, idx, last)
		}
		lastIndex[batch] = idx
	}
	var missing []string
	for m := range want {
		if !seen[m] {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		r.t.Errorf("destination is missing %d of %d messages, e.g. %q", len(missing), len(want), missing[0])
	}
}

func parse(m string) (batch string, idx int) {
	b, rest, _ := strings.Cut(m, "-e")
	n, _ := strconv.Atoi(rest[:4])
	return b, n
}

func (r *run) counter(name string) float64 {
	switch name {
	case "sent":
		return testutil.ToFloat64(r.m.SentEvents)
	case "retries":
		return testutil.ToFloat64(r.m.Retries)
	case "errors":
		return testutil.ToFloat64(r.m.Errors("send"))
	case "rejected":
		return testutil.ToFloat64(r.m.Discarded("rejected"))
	}
	panic(name)
}

func delivers(t *testing.T, h Harness) {
	r := start(t, h, Accept)
	r.send(1, 5, 0, 37, 3, 250, 1, 2)
	close(r.in)
	r.finish()
	r.checkAcks(true)
	r.checkReceived()
	if got, want := r.counter("sent"), float64(r.total()); got != want {
		t.Errorf("component_sent_events_total = %v, want %v", got, want)
	}
	if got := r.counter("rejected"); got != 0 {
		t.Errorf("discarded %v events", got)
	}
	if got := r.counter("errors"); got != 0 {
		t.Errorf("%v send errors against a healthy destination", got)
	}
}

func retriesTransient(t *testing.T, h Harness) {
	r := start(t, h, FailTransient)
	sent := r.sendAsync(3, 4, 5)
	r.wait("two failed attempts", func() bool { return r.counter("errors") >= 2 })
	if n := r.acked(); n != 0 {
		t.Fatalf("%d batches acknowledged while the destination failed", n)
	}
	if got := r.dest.Received(); len(got) != 0 {
		t.Fatalf("destination in failure mode received %d messages", len(got))
	}
	r.dest.SetMode(Accept)
	sent()
	close(r.in)
	r.finish()
	r.checkAcks(true)
	r.checkReceived()
	if r.counter("retries") < 1 {
		t.Error("component_retries_total was not counted")
	}
	if got := r.counter("rejected"); got != 0 {
		t.Errorf("transient failures discarded %v events", got)
	}
}

func refusesPermanent(t *testing.T, h Harness) {
	r := start(t, h, Refuse)
	r.send(3, 1, 6)
	close(r.in)
	r.finish()
	r.checkAcks(true) // Rejected is a verdict: the source may move on.
	if got := r.dest.Received(); len(got) != 0 {
		t.Errorf("refusing destination stored %d messages", len(got))
	}
	if got, want := r.counter("rejected"), float64(r.total()); got != want {
		t.Errorf(`component_discarded_events_total{reason="rejected"} = %v, want %v`, got, want)
	}
	if got := r.counter("retries"); got != 0 {
		t.Errorf("permanent refusals were retried %v times", got)
	}
	if got := r.counter("sent"); got != 0 {
		t.Errorf("refused events counted as sent: %v", got)
	}
}

func drainsOnClose(t *testing.T, h Harness) {
	r := start(t, h, FailTransient)
	// Five events: a sink takes that many while its destination fails.
	r.send(2, 3)
	close(r.in)
	r.wait("two failed attempts after close", func() bool { return r.counter("errors") >= 2 })
	if r.returned() {
		t.Fatal("Run returned while events were still undelivered")
	}
	if n := r.acked(); n != 0 {
		t.Fatalf("%d batches acknowledged while the destination failed", n)
	}
	r.dest.SetMode(Accept)
	r.finish()
	r.checkAcks(true)
	r.checkReceived()
}

func cancelFailsPending(t *testing.T, h Harness) {
	r := start(t, h, FailTransient)
	sent := r.sendAsync(4, 2, 9)
	r.wait("a failed attempt", func() bool { return r.counter("errors") >= 1 })
	began := time.Now()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run returned %v after cancellation", err)
		}
		r.done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s after its context ended")
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("Run took %s to return after cancellation", took)
	}
	n := sent()
	if n == 0 {
		t.Fatal("the sink took no batch")
	}
	r.checkAcks(false)
}
