package metrics

import (
	"cmp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// EventTotals is what one component received and discarded since the
// process started.
type EventTotals struct {
	Kind, Type, ID string
	// Received is drover_component_received_events_total.
	Received float64
	// Discarded is drover_component_discarded_events_total by reason.
	Discarded map[string]float64
}

// EventTotals returns the received and discarded event totals of every
// component that has either, sorted by kind and id: what the readiness
// policy's discard rule counts.
func (r *Registry) EventTotals() []EventTotals {
	byKey := map[[2]string]*EventTotals{}
	get := func(l map[string]string) *EventTotals {
		k := [2]string{l["component_kind"], l["component_id"]}
		t := byKey[k]
		if t == nil {
			t = &EventTotals{Kind: k[0], Type: l["component_type"], ID: k[1], Discarded: map[string]float64{}}
			byKey[k] = t
		}
		return t
	}
	collectCounters(r.receivedEvents, func(l map[string]string, v float64) { get(l).Received += v })
	collectCounters(r.discarded, func(l map[string]string, v float64) { get(l).Discarded[l["reason"]] += v })
	out := make([]EventTotals, 0, len(byKey))
	for _, t := range byKey {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b EventTotals) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID)) })
	return out
}

// collectCounters calls f with the labels and value of every series of c.
func collectCounters(c prometheus.Collector, f func(labels map[string]string, v float64)) {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil || pb.Counter == nil {
			continue
		}
		l := make(map[string]string, len(pb.Label))
		for _, lp := range pb.Label {
			l[lp.GetName()] = lp.GetValue()
		}
		f(l, pb.Counter.GetValue())
	}
}
