package health

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Counts is what one component received and discarded since the process
// started: the totals of its drover_component_received_events_total and
// drover_component_discarded_events_total series.
type Counts struct {
	Kind, Type, ID string
	Received       float64
	// Discarded is by reason.
	Discarded map[string]float64
}

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	// Registry holds the components' Reporters.
	Registry *Registry
	// Policy is the readiness policy; SetPolicy changes it.
	Policy Policy
	// Counts returns every component's totals, for the discard rule; nil
	// turns the rule off.
	Counts func() []Counts
	// Phase says where the process is; nil means always running.
	Phase func() Phase
	// Logger receives a line when drover stops or starts again being
	// ready; nil means slog.Default() at the time of the line (so that it
	// follows a reload's new log format).
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Monitor applies the readiness policy to the Registry: it keeps the
// overall status and since when it holds, counts each component's
// discards over the policy's window (holding ConditionDiscards on the
// component's Reporter while they are above the threshold), and logs when
// readiness changes. It is safe for concurrent use.
type Monitor struct {
	cfg MonitorConfig

	mu         sync.Mutex
	policy     Policy
	samples    []sample
	status     string
	since      time.Time
	wasReady   bool // the verdict of the last evaluation while running
	phase      Phase
	phaseSince time.Time
}

type compKey struct{ kind, id string }

type tally struct {
	typ                 string
	received, discarded float64
	byReason            map[string]float64
}

type sample struct {
	at     time.Time
	counts map[compKey]tally
}

// NewMonitor returns a Monitor; call Run to keep it current.
func NewMonitor(cfg MonitorConfig) *Monitor {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Phase == nil {
		cfg.Phase = func() Phase { return PhaseRunning }
	}
	if cfg.Registry == nil {
		cfg.Registry = NewRegistry(cfg.Now)
	}
	return &Monitor{cfg: cfg, policy: cfg.Policy, wasReady: true}
}

// SetPolicy replaces the policy (a reload). A new discard window starts
// counting afresh.
func (m *Monitor) SetPolicy(p Policy) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.DiscardWindow != m.policy.DiscardWindow || p.DiscardRatio != m.policy.DiscardRatio ||
		!slices.Equal(p.IgnoredDiscardReasons, m.policy.IgnoredDiscardReasons) {
		m.samples = nil
	}
	m.policy = p
}

// Interval is how often Run samples: a twentieth of the discard window,
// between 1 and 15 seconds.
func (m *Monitor) Interval() time.Duration {
	m.mu.Lock()
	w := m.policy.DiscardWindow
	m.mu.Unlock()
	return min(max(w/20, time.Second), 15*time.Second)
}

// Run samples the discard counts and re-evaluates the status every
// Interval until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	for {
		m.Tick()
		t := time.NewTimer(m.Interval())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Tick takes one sample of the discard counts, updates the discards
// conditions and re-evaluates the status (Run calls it; tests call it
// with a manual clock).
func (m *Monitor) Tick() {
	m.sampleDiscards()
	m.Status()
}

func (m *Monitor) sampleDiscards() {
	if m.cfg.Counts == nil {
		return
	}
	now := m.cfg.Now()
	m.mu.Lock()
	p := m.policy
	if p.DiscardRatio <= 0 {
		m.samples = nil
		m.mu.Unlock()
		m.clearDiscards(nil)
		return
	}
	m.mu.Unlock()

	ignored := map[string]bool{}
	for _, r := range p.IgnoredDiscardReasons {
		ignored[r] = true
	}
	cur := sample{at: now, counts: map[compKey]tally{}}
	for _, c := range m.cfg.Counts() {
		t := tally{typ: c.Type, received: c.Received, byReason: map[string]float64{}}
		for reason, n := range c.Discarded {
			if !ignored[reason] && n > 0 {
				t.discarded += n
				t.byReason[reason] = n
			}
		}
		cur.counts[compKey{c.Kind, c.ID}] = t
	}

	m.mu.Lock()
	m.samples = append(m.samples, cur)
	// The baseline is the newest sample at least a window old (or the
	// oldest there is); older ones are no longer needed.
	base := 0
	for i, s := range m.samples {
		if now.Sub(s.at) >= p.DiscardWindow {
			base = i
		}
	}
	m.samples = m.samples[base:]
	first := m.samples[0]
	m.mu.Unlock()

	over := map[compKey]string{}
	for k, t := range cur.counts {
		b := first.counts[k]
		disc := t.discarded - b.discarded
		recv := t.received - b.received
		if disc < float64(max(p.DiscardMinEvents, 1)) {
			continue
		}
		ratio := disc / max(recv, disc)
		if ratio <= p.DiscardRatio {
			continue
		}
		var parts []string
		for reason, n := range t.byReason {
			if d := n - b.byReason[reason]; d > 0 {
				parts = append(parts, fmt.Sprintf("%s %.0f", reason, d))
			}
		}
		sort.Strings(parts)
		over[k] = fmt.Sprintf("discarded %.0f of %.0f events (%.1f%%, more than %.1f%%) in the last %s: %s",
			disc, max(recv, disc), 100*ratio, 100*p.DiscardRatio, min(now.Sub(first.at), p.DiscardWindow).Round(time.Second),
			strings.Join(parts, ", "))
	}
	for k, msg := range over {
		m.cfg.Registry.Lookup(k.kind, k.id).Set(ConditionDiscards, Degraded, "discard_ratio", msg)
	}
	m.clearDiscards(over)
}

// clearDiscards clears ConditionDiscards on every component not in keep.
func (m *Monitor) clearDiscards(keep map[compKey]string) {
	for _, c := range m.cfg.Registry.Snapshot() {
		if _, ok := keep[compKey{c.Kind, c.ID}]; ok {
			continue
		}
		for _, cond := range c.Conditions {
			if cond.Name == ConditionDiscards {
				m.cfg.Registry.Lookup(c.Kind, c.ID).Clear(ConditionDiscards)
			}
		}
	}
}

// Status evaluates the policy now.
func (m *Monitor) Status() Status {
	now := m.cfg.Now()
	phase := m.cfg.Phase()
	comps := m.cfg.Registry.Snapshot()
	m.mu.Lock()
	status, reasons := m.policy.Evaluate(now, comps)
	if phase != m.phase {
		m.phase, m.phaseSince = phase, now
	}
	phaseSince := m.phaseSince
	if status != m.status {
		m.status, m.since = status, now
	}
	since := m.since
	ready := phase == PhaseRunning && status != StatusFailing
	// Only the policy's verdict while running is news: not being ready
	// while starting or stopping is not.
	logIt := phase == PhaseRunning && ready != m.wasReady
	if phase == PhaseRunning {
		m.wasReady = ready
	}
	m.mu.Unlock()

	if phase != PhaseRunning {
		reasons = append([]Reason{{
			Effect: EffectNotReady, Rule: RulePhase, State: Failing, Reason: string(phase),
			Message: "drover is " + string(phase), Since: phaseSince,
		}}, reasons...)
	}
	if reasons == nil {
		reasons = []Reason{}
	}
	st := Status{Status: status, Ready: ready, Phase: phase, Since: since, Time: now, Reasons: reasons, Components: comps}
	if logIt {
		log := m.cfg.Logger
		if log == nil {
			log = slog.Default()
		}
		if ready {
			log.Info("drover is ready again", "status", status)
		} else {
			log.Warn("drover is not ready", "reasons", st.Summary())
		}
	}
	return st
}
