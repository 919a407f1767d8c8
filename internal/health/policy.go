package health

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Policy says when the conditions of drover's components make drover as a
// whole not ready: when its readiness check should fail, so that an
// orchestrator stops counting on it (a deployment that ships nothing is not
// healthy) and an operator is told. A condition that has not yet crossed
// its rule's threshold only degrades the overall status.
type Policy struct {
	// SinkFailingAfter: a sink with a failing condition (it cannot deliver)
	// for longer than this makes drover not ready.
	SinkFailingAfter time.Duration
	// SourceFailingAfter: a source (or transform) with a failing condition
	// (it cannot reach its API, cannot read) for longer than this makes
	// drover not ready.
	SourceFailingAfter time.Duration
	// DiscardRatio: a component that discarded more than this fraction of
	// the events it received over DiscardWindow (and at least
	// DiscardMinEvents of them) makes drover not ready. 0 turns the rule
	// off.
	DiscardRatio float64
	// DiscardWindow is the period over which discards are counted.
	DiscardWindow time.Duration
	// DiscardMinEvents is the least number of discarded events in the
	// window for the ratio to count, so that one refused event of two does
	// not trip the rule.
	DiscardMinEvents int
	// IgnoredDiscardReasons are discard reasons that are the configuration
	// doing what it was told (a filter, an exclusion, a de-duplication),
	// not a loss; they are not counted.
	IgnoredDiscardReasons []string
}

// Status values of the overall status.
const (
	// StatusOK: every component is OK.
	StatusOK = "ok"
	// StatusDegraded: some component has a condition, but no rule of the
	// policy tripped: drover is ready.
	StatusDegraded = "degraded"
	// StatusFailing: a rule of the policy tripped: drover is not ready.
	StatusFailing = "failing"
)

// Phase is where the process is in its life.
type Phase string

// The phases.
const (
	// PhaseStarting: the pipeline is being built and started.
	PhaseStarting Phase = "starting"
	// PhaseRunning: the pipeline runs.
	PhaseRunning Phase = "running"
	// PhaseStopping: a stop was asked for; sinks deliver what they hold.
	PhaseStopping Phase = "stopping"
)

// Effects of a Reason.
const (
	// EffectNotReady: the reason makes drover not ready.
	EffectNotReady = "not_ready"
	// EffectDegraded: the reason degrades the status but drover stays
	// ready (a condition younger than its rule's period, a degraded
	// condition).
	EffectDegraded = "degraded"
)

// Rules of the policy, as Reason.Rule names them.
const (
	RuleSinkFailing   = "sink_failing"
	RuleSourceFailing = "source_failing"
	RuleDiscards      = "discards"
	RuleCondition     = "condition" // a degraded condition: reported, no rule applies
	RulePhase         = "phase"     // starting or stopping
)

// Reason is one thing that makes the overall status other than ok, or
// drover not ready.
type Reason struct {
	// Effect is EffectNotReady or EffectDegraded.
	Effect string `json:"effect"`
	// Rule is the policy rule that applies (RuleSinkFailing, ...).
	Rule string `json:"rule"`
	// ComponentKind, ComponentType and ComponentID name the component;
	// empty for RulePhase.
	ComponentKind string `json:"component_kind,omitempty"`
	ComponentType string `json:"component_type,omitempty"`
	ComponentID   string `json:"component_id,omitempty"`
	// Condition, State and Reason are those of the component's condition.
	Condition string `json:"condition,omitempty"`
	State     State  `json:"state"`
	Reason    string `json:"reason"`
	// Message explains it in words.
	Message string `json:"message"`
	// Since is when the condition entered its state (or the phase began).
	Since time.Time `json:"since"`
	// NotReadyAt is when the condition, should it last, makes drover not
	// ready; only for a condition still within its rule's period.
	NotReadyAt *time.Time `json:"not_ready_at,omitempty"`
}

// Evaluate applies the policy to the components' health at now. It returns
// the overall status (StatusOK, StatusDegraded or StatusFailing) and the
// reasons for it, those that make drover not ready first.
func (p Policy) Evaluate(now time.Time, comps []Component) (string, []Reason) {
	var reasons []Reason
	for _, c := range comps {
		for _, cond := range c.Conditions {
			r := Reason{
				Effect: EffectDegraded, Rule: RuleCondition,
				ComponentKind: c.Kind, ComponentType: c.Type, ComponentID: c.ID,
				Condition: cond.Name, State: cond.State, Reason: cond.Reason,
				Message: cond.Message, Since: cond.StateSince,
			}
			if r.Since.IsZero() {
				r.Since = cond.Since
			}
			r.Message = fmt.Sprintf("%s %q: %s %s (%s) for %s: %s", c.Kind, c.ID, cond.Name, cond.State,
				cond.Reason, now.Sub(r.Since).Round(time.Second), cond.Message)
			switch {
			case cond.Name == ConditionDiscards:
				r.Rule, r.Effect = RuleDiscards, EffectNotReady
			case cond.State == Failing:
				r.Rule, r.Effect = RuleSourceFailing, EffectNotReady
				period := p.SourceFailingAfter
				if c.Kind == "sink" {
					r.Rule, period = RuleSinkFailing, p.SinkFailingAfter
				}
				if at := r.Since.Add(period); now.Before(at) {
					r.Effect, r.NotReadyAt = EffectDegraded, &at
				}
			}
			reasons = append(reasons, r)
		}
	}
	status := StatusOK
	for _, r := range reasons {
		if r.Effect == EffectNotReady {
			status = StatusFailing
			break
		}
		status = StatusDegraded
	}
	slices.SortStableFunc(reasons, func(a, b Reason) int {
		return cmp.Compare(effectOrder(a.Effect), effectOrder(b.Effect))
	})
	return status, reasons
}

func effectOrder(e string) int {
	if e == EffectNotReady {
		return 0
	}
	return 1
}

// Status is the health of drover as a whole at one moment: what the admin
// endpoint's /api/v1/health serves (docs/operations.md documents it).
type Status struct {
	// Status is StatusOK, StatusDegraded or StatusFailing.
	Status string `json:"status"`
	// Ready is what /ready answers: the pipeline runs and no rule of the
	// policy tripped.
	Ready bool `json:"ready"`
	// Phase is PhaseStarting, PhaseRunning or PhaseStopping.
	Phase Phase `json:"phase"`
	// Since is when Status last changed.
	Since time.Time `json:"since"`
	// Time is when this status was taken.
	Time time.Time `json:"time"`
	// Reasons explain Status and Ready, those that make drover not ready
	// first; empty when everything is OK.
	Reasons []Reason `json:"reasons"`
	// Components is the health of every component, sorted by kind and id.
	Components []Component `json:"components"`
}

// Summary is a one-line account of the status for the plain-text /ready:
// "ready", or "not ready: " and the reasons that make it so.
func (s Status) Summary() string {
	if s.Ready {
		if s.Status == StatusDegraded {
			return fmt.Sprintf("ready (degraded: %d condition(s), see /api/v1/health)", len(s.Reasons))
		}
		return "ready"
	}
	out := "not ready"
	sep := ": "
	for _, r := range s.Reasons {
		if r.Effect != EffectNotReady {
			continue
		}
		out += sep + r.Message
		sep = "; "
	}
	return out
}
