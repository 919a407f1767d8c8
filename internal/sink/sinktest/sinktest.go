// Package sinktest is the conformance suite every sink runs, and the
// helpers its tests share (Start, Logs, WaitFor, Context). The suite
// checks the component.Sink contract and drover's delivery policy against a
// destination the sink's test controls:
//
//   - Delivers: every event arrives exactly once, the events of each source
//     batch in order; every Ack is released once and ok; Run returns nil
//     once in is closed; sent events and the last delivery time are
//     counted; nothing is discarded.
//   - RetriesTransient: while the destination fails transiently nothing is
//     acknowledged and the sink keeps retrying (errors and retries
//     counted); once it recovers everything arrives exactly once.
//   - RetriesUnauthorized: while the destination refuses the credentials
//     nothing is acknowledged or discarded, the sink's health says
//     "unauthorized" or "forbidden", and once the credentials are accepted
//     every event arrives exactly once: a rotated token loses nothing.
//   - SplitsTooLarge: a destination that refuses requests of more than two
//     events as too large gets every event, in order, in smaller requests;
//     nothing is discarded.
//   - RejectsPoison: events the destination refuses for their content are
//     rejected alone, the others delivered; each refused event reaches the
//     dead-letter output as it was, with the sink, a reason, the error and
//     the time; it is counted as discarded under that reason; its batch is
//     acknowledged only after its dead letter was delivered.
//   - RejectsRequest: a destination that refuses every request as bad gets
//     nothing stored; every event is rejected and dead-lettered, none
//     retried, and the Acks released ok (Rejected), so the pipeline moves
//     on.
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
	"log/slog"
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
	"github.com/drover-dev/drover/internal/health"
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
	// Unauthorized: refuse the credentials of every attempt (HTTP 401 or
	// 403, an authentication error of the protocol, a permission denied),
	// storing nothing.
	Unauthorized
	// TooLarge: refuse every request that holds more than two events as
	// too large (HTTP 413 or the protocol's equivalent), storing nothing
	// of it; accept smaller ones.
	TooLarge
	// RefusePoison: refuse, for their content, the events whose message
	// contains Poison, and take the others: event by event where the
	// protocol answers so, else by refusing as a bad request (HTTP 400)
	// every request that holds one, storing nothing of it.
	RefusePoison
	// Refuse: refuse every request as a bad request naming no event (HTTP
	// 400 or the protocol's equivalent), storing nothing.
	Refuse
)

// String names the mode for skip messages.
func (m Mode) String() string {
	return [...]string{"Accept", "FailTransient", "Unauthorized", "TooLarge", "RefusePoison", "Refuse"}[m]
}

// Poison marks the messages a destination in mode RefusePoison refuses.
const Poison = "poison"

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
	// New builds a sink from cctx (its metrics, health reporter, logger
	// and dead-letter output are the suite's) that delivers to a fresh
	// Destination. The sink must deliver in order (one request in
	// flight), retry quickly (backoff of a few milliseconds) and send a
	// partly filled batch within a few milliseconds. While its destination
	// fails it must still take at least five events from its input (one
	// small request in flight, another one filling). Resources are
	// released with t.Cleanup.
	New func(t *testing.T, cctx component.Context) (component.Sink, Destination)
	// Unsupported names the modes the destination cannot answer with, and
	// why; the checks that need them are skipped.
	Unsupported map[Mode]string
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness) {
	checks := []struct {
		name string
		mode Mode
		run  func(*testing.T, Harness)
	}{
		{"Delivers", Accept, delivers},
		{"RetriesTransient", FailTransient, retriesTransient},
		{"RetriesUnauthorized", Unauthorized, retriesUnauthorized},
		{"SplitsTooLarge", TooLarge, splitsTooLarge},
		{"RejectsPoison", RefusePoison, rejectsPoison},
		{"RejectsRequest", Refuse, rejectsRequest},
		{"DrainsOnClose", FailTransient, drainsOnClose},
		{"CancelFailsPending", FailTransient, cancelFailsPending},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if why, ok := h.Unsupported[c.mode]; ok {
				t.Skipf("the destination cannot answer %s: %s", c.mode, why)
			}
			c.run(t, h)
		})
	}
}

// deadline bounds every wait of the suite.
const deadline = 20 * time.Second

// run is one sink running under the suite.
type run struct {
	t      *testing.T
	m      *metrics.Component
	health *health.Reporter
	dead   *DeadLetters
	dest   Destination
	in     chan *event.Batch
	cancel context.CancelFunc
	ctx    context.Context
	done   chan error
	meta   *event.Meta

	mu    sync.Mutex
	sent  [][]string // messages of each batch handed to the sink
	acks  []int      // how often each batch's Ack fired
	ackOK []bool
}

func start(t *testing.T, h Harness, mode Mode) *run {
	t.Helper()
	// Registered first, so it runs after the harness's own cleanups.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	cctx, _, dead := Recorded(t, "test")
	cctx.Logger = slog.New(slog.DiscardHandler)
	sink, dest := h.New(t, cctx)
	dest.SetMode(mode)
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{
		t: t, m: cctx.Metrics, health: cctx.Health, dead: dead, dest: dest,
		in: make(chan *event.Batch), ctx: ctx, cancel: cancel, done: make(chan error, 1),
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
		dead.Release()
		if v := testutil.ToFloat64(cctx.Metrics.BufferEvents); v != 0 {
			t.Errorf("the sink changed BufferEvents to %v; the topology owns that gauge", v)
		}
	})
	return r
}

// send hands batches of the given sizes to the sink, each with unique
// messages; the events whose index is in poison (for every batch) carry
// Poison in their message. It returns how many batches it handed over
// before ctx ended.
func (r *run) send(poison []int, sizes ...int) int {
	r.t.Helper()
	for _, n := range sizes {
		r.mu.Lock()
		idx := len(r.sent)
		msgs := make([]string, n)
		b := &event.Batch{Events: make([]event.Event, n)}
		for i := range n {
			msgs[i] = fmt.Sprintf("b%03d-e%04d ü \"q\"", idx, i)
			if slices.Contains(poison, i) {
				msgs[i] += " " + Poison
			}
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
	go func() { ch <- r.send(nil, sizes...) }()
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
	WaitFor(r.t, what, cond)
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

// checkReceived verifies that the destination got every message that is
// not poisoned exactly once, and the messages of each batch in order.
func (r *run) checkReceived() {
	r.t.Helper()
	got := r.dest.Received()
	r.mu.Lock()
	defer r.mu.Unlock()
	want := map[string]bool{}
	for _, b := range r.sent {
		for _, m := range b {
			if !strings.Contains(m, Poison) {
				want[m] = true
			}
		}
	}
	seen := map[string]bool{}
	lastIndex := map[string]int{}
	for _, m := range got {
		if !want[m] {
			r.t.Errorf("destination received %q, which was not sent or is poisoned", m)
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
	case "last_delivery":
		return testutil.ToFloat64(r.m.LastDelivery())
	}
	panic(name)
}

// discarded is the sum of component_discarded_events_total over reasons.
func (r *run) discarded() float64 {
	return SumDiscarded(r.t, r.m)
}

// checkDeadLetters verifies that the dead-letter output got each message
// of want exactly once, as it was sent, with the sink's id, a reason, an
// error and a time, and that the discards are counted under the reasons
// of the dead letters.
func (r *run) checkDeadLetters(want []string) {
	r.t.Helper()
	letters := r.dead.Letters()
	byReason := map[string]int{}
	seen := map[string]bool{}
	for _, l := range letters {
		if seen[l.Message] {
			r.t.Errorf("dead letter of %q delivered twice", l.Message)
		}
		seen[l.Message] = true
		if l.Sink != "test" || l.Reason == "" || l.Error == "" || l.Time.IsZero() {
			r.t.Errorf("dead letter of %q without sink, reason, error or time: %+v", l.Message, l)
		}
		if l.Event.Meta != r.meta || !l.Event.Timestamp.Equal(time.Unix(1700000000, int64(mustIndex(l.Message)))) {
			r.t.Errorf("dead letter of %q is not the event as it was: %+v", l.Message, l.Event)
		}
		byReason[l.Reason]++
	}
	for _, m := range want {
		if !seen[m] {
			r.t.Errorf("no dead letter of %q", m)
		}
	}
	if len(letters) != len(want) {
		r.t.Errorf("%d dead letters, want %d", len(letters), len(want))
	}
	for reason, n := range byReason {
		if got := testutil.ToFloat64(r.m.Discarded(reason)); got != float64(n) {
			r.t.Errorf("component_discarded_events_total{reason=%q} = %v, want %v", reason, got, n)
		}
	}
	if got := r.discarded(); got != float64(len(want)) {
		r.t.Errorf("%v events discarded in all, want %d", got, len(want))
	}
}

func mustIndex(m string) int {
	_, idx := parse(m)
	return idx
}

// poisoned returns the messages sent that carry Poison.
func (r *run) poisoned() []string {
	return r.messages(func(m string) bool { return strings.Contains(m, Poison) })
}

// all returns the messages sent.
func (r *run) all() []string { return r.messages(func(string) bool { return true }) }

func (r *run) messages(keep func(string) bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.sent {
		for _, m := range b {
			if keep(m) {
				out = append(out, m)
			}
		}
	}
	return out
}

func delivers(t *testing.T, h Harness) {
	r := start(t, h, Accept)
	before := float64(time.Now().Unix())
	r.send(nil, 1, 5, 0, 37, 3, 250, 1, 2)
	close(r.in)
	r.finish()
	r.checkAcks(true)
	r.checkReceived()
	if got, want := r.counter("sent"), float64(r.total()); got != want {
		t.Errorf("component_sent_events_total = %v, want %v", got, want)
	}
	if got := r.discarded(); got != 0 {
		t.Errorf("discarded %v events", got)
	}
	if got := r.counter("errors"); got != 0 {
		t.Errorf("%v send errors against a healthy destination", got)
	}
	if got := r.counter("last_delivery"); got < before || got > float64(time.Now().Unix()+1) {
		t.Errorf("component_last_delivery_timestamp_seconds = %v, want the time of the last delivery", got)
	}
}

func retriesTransient(t *testing.T, h Harness) {
	r := waitsThenDelivers(t, h, FailTransient)
	if r.counter("retries") < 1 {
		t.Error("component_retries_total was not counted")
	}
	if st := r.health.State(); st != health.OK {
		t.Errorf("health after recovery = %v: %+v", st, r.health.Conditions())
	}
}

func retriesUnauthorized(t *testing.T, h Harness) {
	r := waitsThenDelivers(t, h, Unauthorized, "unauthorized", "forbidden")
	if len(r.dead.Letters()) != 0 {
		t.Errorf("dead letters after refused credentials: %+v", r.dead.Letters())
	}
}

// waitsThenDelivers checks that while the destination answers with mode,
// the sink keeps retrying: nothing is acknowledged, stored or discarded,
// and its health is failing on delivery (for one of reasons, when given);
// and that once the destination accepts, every event arrives exactly once.
func waitsThenDelivers(t *testing.T, h Harness, mode Mode, reasons ...string) *run {
	r := start(t, h, mode)
	sent := r.sendAsync(3, 4, 5)
	r.wait("two failed attempts", func() bool { return r.counter("errors") >= 2 })
	if n := r.acked(); n != 0 {
		t.Fatalf("%d batches acknowledged while the destination failed (%s)", n, mode)
	}
	if got := r.dest.Received(); len(got) != 0 {
		t.Fatalf("destination in mode %s received %d messages", mode, len(got))
	}
	conds := r.health.Conditions()
	if len(conds) != 1 || conds[0].Name != health.ConditionDelivery || conds[0].State != health.Failing ||
		(len(reasons) > 0 && !slices.Contains(reasons, conds[0].Reason)) {
		t.Errorf("health while failing (%s): %+v, want delivery failing with a reason of %q", mode, conds, reasons)
	}
	if got := r.discarded(); got != 0 {
		t.Fatalf("the failures (%s) discarded %v events", mode, got)
	}
	r.dest.SetMode(Accept) // the destination is back, the token rotated
	sent()
	close(r.in)
	r.finish()
	r.checkAcks(true)
	r.checkReceived()
	if got := r.discarded(); got != 0 {
		t.Errorf("discarded %v events", got)
	}
	return r
}

func splitsTooLarge(t *testing.T, h Harness) {
	r := start(t, h, TooLarge)
	r.send(nil, 5, 1, 9, 2)
	close(r.in)
	r.finish()
	r.checkAcks(true)
	r.checkReceived()
	if got := r.discarded(); got != 0 {
		t.Errorf("splitting discarded %v events", got)
	}
	if got, want := r.counter("sent"), float64(r.total()); got != want {
		t.Errorf("component_sent_events_total = %v, want %v", got, want)
	}
}

func rejectsPoison(t *testing.T, h Harness) {
	r := start(t, h, RefusePoison)
	r.dead.Hold()
	r.send([]int{1, 4}, 3, 6, 1)
	poisoned := r.poisoned()
	// Batch 2 holds no poison: it is released once delivered.
	r.wait("the batch without poison acknowledged", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.acks[2] == 1
	})
	r.wait("the dead letters", func() bool { return len(r.dead.Letters()) == len(poisoned) })
	r.mu.Lock()
	early := r.acks[0] + r.acks[1]
	r.mu.Unlock()
	if early != 0 {
		t.Fatal("a batch with refused events was acknowledged before its dead letters were delivered")
	}
	r.dead.Release()
	close(r.in)
	r.finish()
	r.checkAcks(true)
	r.checkReceived()
	r.checkDeadLetters(poisoned)
	if got, want := r.counter("sent"), float64(r.total()-len(poisoned)); got != want {
		t.Errorf("component_sent_events_total = %v, want %v", got, want)
	}
}

func rejectsRequest(t *testing.T, h Harness) {
	r := start(t, h, Refuse)
	r.send(nil, 3, 1, 6)
	close(r.in)
	r.finish()
	r.checkAcks(true) // Rejected is a verdict: the source may move on.
	if got := r.dest.Received(); len(got) != 0 {
		t.Errorf("refusing destination stored %d messages", len(got))
	}
	r.checkDeadLetters(r.all())
	if got := r.counter("retries"); got != 0 {
		t.Errorf("refusals were retried %v times", got)
	}
	if got := r.counter("sent"); got != 0 {
		t.Errorf("refused events counted as sent: %v", got)
	}
	if conds := r.health.Conditions(); len(conds) != 1 || conds[0].Name != health.ConditionRejections {
		t.Errorf("health after refusals: %+v, want the rejections condition", conds)
	}
}

func drainsOnClose(t *testing.T, h Harness) {
	r := start(t, h, FailTransient)
	// Five events: a sink takes that many while its destination fails.
	r.send(nil, 2, 3)
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
