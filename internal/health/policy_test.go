package health

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

var testPolicy = Policy{
	SinkFailingAfter:      time.Minute,
	SourceFailingAfter:    5 * time.Minute,
	DiscardRatio:          0.1,
	DiscardWindow:         5 * time.Minute,
	DiscardMinEvents:      10,
	IgnoredDiscardReasons: []string{"filtered"},
}

func TestSinkFailingMakesNotReadyAfterThePeriod(t *testing.T) {
	c := newClock()
	reg := NewRegistry(c.now)
	var logs bytes.Buffer
	m := NewMonitor(MonitorConfig{Registry: reg, Policy: testPolicy, Now: c.now,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	sink := reg.Register("sink", "http", "out")
	reg.Register("source", "file", "app")

	if st := m.Status(); st.Status != StatusOK || !st.Ready || len(st.Reasons) != 0 || len(st.Components) != 2 {
		t.Fatalf("all OK: %+v", st)
	}
	failedAt := c.now()
	sink.Set(ConditionDelivery, Failing, "unreachable", "dial tcp: connection refused")
	c.advance(30 * time.Second)
	st := m.Status()
	if st.Status != StatusDegraded || !st.Ready || len(st.Reasons) != 1 {
		t.Fatalf("within the period: %+v", st)
	}
	r := st.Reasons[0]
	if r.Rule != RuleSinkFailing || r.Effect != EffectDegraded || r.NotReadyAt == nil ||
		!r.NotReadyAt.Equal(failedAt.Add(time.Minute)) || r.ComponentID != "out" || r.Reason != "unreachable" {
		t.Fatalf("reason within the period: %+v", r)
	}
	degradedSince := st.Since
	// Another reason is not a new failure: the period still runs from the
	// first one.
	sink.Set(ConditionDelivery, Failing, "timeout", "context deadline exceeded")
	c.advance(31 * time.Second)
	st = m.Status()
	if st.Status != StatusFailing || st.Ready {
		t.Fatalf("after the period: %+v", st)
	}
	if r := st.Reasons[0]; r.Effect != EffectNotReady || r.NotReadyAt != nil || !r.Since.Equal(failedAt) ||
		!strings.Contains(r.Message, `sink "out": delivery failing (timeout) for 1m1s`) {
		t.Fatalf("reason after the period: %+v", r)
	}
	if !st.Since.After(degradedSince) {
		t.Fatalf("status since %v must move when the status changes (was %v)", st.Since, degradedSince)
	}
	if !strings.HasPrefix(st.Summary(), `not ready: sink "out": delivery failing`) {
		t.Fatalf("summary: %q", st.Summary())
	}
	sink.Clear(ConditionDelivery)
	if st := m.Status(); st.Status != StatusOK || !st.Ready {
		t.Fatalf("after recovery: %+v", st)
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"drover is not ready"`) || !strings.Contains(out, `"msg":"drover is ready again"`) ||
		strings.Count(out, "\n") != 2 {
		t.Fatalf("readiness changes must be logged once each:\n%s", out)
	}
}

func TestSourceFailingAndDegradedConditions(t *testing.T) {
	c := newClock()
	reg := NewRegistry(c.now)
	m := NewMonitor(MonitorConfig{Registry: reg, Policy: testPolicy, Now: c.now})
	src := reg.Register("source", "nomad_logs", "tasks")
	sink := reg.Register("sink", "loki", "out")
	src.Set(ConditionAPI, Failing, "unreachable", "Nomad API down")
	sink.Set(ConditionRejections, Degraded, "too_old", "3 events refused")
	c.advance(4 * time.Minute)
	if st := m.Status(); st.Status != StatusDegraded || !st.Ready || len(st.Reasons) != 2 {
		t.Fatalf("a source failing 4m of 5m: %+v", st)
	}
	c.advance(time.Minute)
	st := m.Status()
	if st.Ready || st.Reasons[0].Rule != RuleSourceFailing || st.Reasons[0].Effect != EffectNotReady ||
		st.Reasons[1].Rule != RuleCondition || st.Reasons[1].Effect != EffectDegraded {
		t.Fatalf("a source failing 5m: %+v", st)
	}
}

func TestPhaseMakesNotReady(t *testing.T) {
	c := newClock()
	var mu sync.Mutex
	phase := PhaseStarting
	m := NewMonitor(MonitorConfig{Policy: testPolicy, Now: c.now, Phase: func() Phase {
		mu.Lock()
		defer mu.Unlock()
		return phase
	}})
	set := func(p Phase) { mu.Lock(); phase = p; mu.Unlock() }
	if st := m.Status(); st.Ready || st.Phase != PhaseStarting || st.Reasons[0].Rule != RulePhase || st.Summary() != "not ready: drover is starting" {
		t.Fatalf("starting: %+v", st)
	}
	set(PhaseRunning)
	if st := m.Status(); !st.Ready || st.Status != StatusOK {
		t.Fatalf("running: %+v", st)
	}
	c.advance(time.Second)
	set(PhaseStopping)
	st := m.Status()
	if st.Ready || st.Reasons[0].Reason != "stopping" || !st.Reasons[0].Since.Equal(c.now()) || st.Status != StatusOK {
		t.Fatalf("stopping: %+v", st)
	}
}

// counter is a fake metrics source for the discard rule.
type counter struct {
	mu        sync.Mutex
	received  float64
	discarded map[string]float64
}

func (f *counter) add(received float64, reason string, discarded float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.received += received
	if f.discarded == nil {
		f.discarded = map[string]float64{}
	}
	if reason != "" {
		f.discarded[reason] += discarded
	}
}

func (f *counter) counts() []Counts {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := map[string]float64{}
	for k, v := range f.discarded {
		d[k] = v
	}
	return []Counts{{Kind: "sink", Type: "loki", ID: "out", Received: f.received, Discarded: d}}
}

func TestDiscardsOverTheWindow(t *testing.T) {
	c := newClock()
	reg := NewRegistry(c.now)
	reg.Register("sink", "loki", "out")
	f := &counter{}
	m := NewMonitor(MonitorConfig{Registry: reg, Policy: testPolicy, Now: c.now, Counts: f.counts})
	if m.Interval() != 15*time.Second {
		t.Fatalf("interval %v", m.Interval())
	}
	step := func(received float64, reason string, discarded float64) Status {
		t.Helper()
		c.advance(time.Minute)
		f.add(received, reason, discarded)
		m.Tick()
		return m.Status()
	}
	m.Tick() // the baseline: nothing yet

	// Intended discards (a filter) do not count.
	if st := step(100, "filtered", 90); !st.Ready || st.Status != StatusOK {
		t.Fatalf("filtered events counted: %+v", st)
	}
	// Below the least number of events: 5 of 10 refused is not enough.
	if st := step(10, "rejected", 5); !st.Ready {
		t.Fatalf("5 discards tripped a rule that needs 10: %+v", st)
	}
	// 5+20 discarded of 110+100 received in the window: 11.9% > 10%.
	st := step(100, "rejected", 20)
	if st.Ready || st.Reasons[0].Rule != RuleDiscards || st.Reasons[0].Condition != ConditionDiscards {
		t.Fatalf("25 of 210 discarded: %+v", st)
	}
	if msg := st.Reasons[0].Message; !strings.Contains(msg, "discarded 25 of 210 events (11.9%, more than 10.0%) in the last 3m0s: rejected 25") {
		t.Fatalf("message: %q", msg)
	}
	if reg.Lookup("sink", "out").State() != Degraded {
		t.Fatal("the discards condition must degrade the component")
	}
	// Healthy traffic dilutes the ratio below the threshold.
	if st := step(1000, "", 0); !st.Ready || reg.Lookup("sink", "out").State() != OK {
		t.Fatalf("25 of 1210: %+v", st)
	}
	// A burst, then the window moves past it.
	if st := step(50, "buffer_full", 500); st.Ready {
		t.Fatalf("a burst of 500 discards: %+v", st)
	}
	for range 5 {
		step(100, "", 0)
	}
	if st := m.Status(); !st.Ready {
		t.Fatalf("the burst left the window: %+v", st)
	}

	// Turning the rule off clears the condition at once.
	step(0, "rejected", 1000)
	if m.Status().Ready {
		t.Fatal("a second burst must trip the rule")
	}
	p := testPolicy
	p.DiscardRatio = 0
	m.SetPolicy(p)
	m.Tick()
	if st := m.Status(); !st.Ready || reg.Lookup("sink", "out").State() != OK {
		t.Fatalf("rule off: %+v", st)
	}
}

func TestStatusJSONShape(t *testing.T) {
	c := newClock()
	reg := NewRegistry(c.now)
	m := NewMonitor(MonitorConfig{Registry: reg, Policy: testPolicy, Now: c.now})
	reg.Register("sink", "http", "out").Set(ConditionDelivery, Failing, "unauthorized", "401")
	b, err := json.Marshal(m.Status())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"status", "ready", "phase", "since", "time", "reasons", "components"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	r := got["reasons"].([]any)[0].(map[string]any)
	for k, want := range map[string]any{"effect": "degraded", "rule": "sink_failing", "component_kind": "sink",
		"component_type": "http", "component_id": "out", "condition": "delivery", "state": "failing", "reason": "unauthorized"} {
		if r[k] != want {
			t.Errorf("reasons[0].%s = %v, want %v (%s)", k, r[k], want, b)
		}
	}
	if _, ok := r["not_ready_at"]; !ok {
		t.Errorf("no not_ready_at: %s", b)
	}
	cond := got["components"].([]any)[0].(map[string]any)["conditions"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "state", "reason", "message", "since", "state_since", "updated"} {
		if _, ok := cond[k]; !ok {
			t.Errorf("condition without %q: %s", k, b)
		}
	}
}
