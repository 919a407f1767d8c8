package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/health"
)

// healthCollector exposes drover's health as metrics, read at every
// scrape from the Monitor: what the alert rules in deploy/prometheus use.
//
//	drover_ready 1|0
//	drover_component_health{component_kind,component_type,component_id,state="ok|degraded|failing"} 1|0
type healthCollector struct {
	status    func() health.Status
	ready     *prometheus.Desc
	component *prometheus.Desc
}

func newHealthCollector(status func() health.Status) *healthCollector {
	return &healthCollector{
		status: status,
		ready: prometheus.NewDesc("drover_ready",
			"1 while drover is ready (/ready answers 200): running, and no rule of the health policy tripped.", nil, nil),
		component: prometheus.NewDesc("drover_component_health",
			"1 for the component's health state (ok, degraded, failing), 0 for the others.",
			[]string{"component_kind", "component_type", "component_id", "state"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ready
	ch <- c.component
}

// Collect implements prometheus.Collector.
func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	ready := 0.0
	if st.Ready {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready)
	for _, comp := range st.Components {
		for _, s := range []health.State{health.OK, health.Degraded, health.Failing} {
			v := 0.0
			if comp.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.component, prometheus.GaugeValue, v, comp.Kind, comp.Type, comp.ID, s.String())
		}
	}
}
