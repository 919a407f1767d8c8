package kuberneteslogs

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/follow"
	"github.com/drover-dev/drover/internal/metrics"
)

// Container states, the "state" label of drover_kubernetes_containers.
const (
	stateReading   = "reading"          // metadata known, following the files
	stateWaiting   = "waiting_metadata" // files held open, waiting for the pod's metadata
	stateFinishing = "finishing"        // no more writes expected: reading to the end before release
)

// sourceMetrics are the instruments of the source beside the shared
// component metrics and the discovery metrics (drover_kubernetes_*, see
// internal/discovery/kubernetes):
//
//	drover_kubernetes_containers{state}                  gauge
//	drover_kubernetes_decode_errors_total                counter
//	drover_kubernetes_lines_joined_total                 counter
//	drover_kubernetes_partial_lines_flushed_total        counter
type sourceMetrics struct {
	containers     *prometheus.GaugeVec
	decodeErrors   prometheus.Counter
	joined         prometheus.Counter
	partialFlushed prometheus.Counter
}

func newSourceMetrics(m *metrics.Component) (*sourceMetrics, error) {
	reg, labels := m.Registerer(), m.Labels()
	names := []string{"component_kind", "component_type", "component_id"}
	containers, err1 := metrics.RegisterOrReuse(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "drover", Subsystem: "kubernetes", Name: "containers",
		Help: "Containers (pod x container) the source follows, by state.",
	}, append(append([]string{}, names...), "state")))
	counter := func(name, help string) (*prometheus.CounterVec, error) {
		return metrics.RegisterOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drover", Subsystem: "kubernetes", Name: name, Help: help,
		}, names))
	}
	decodeErrors, err2 := counter("decode_errors_total",
		"Lines that are neither CRI nor docker json-file records, shipped as they are.")
	joined, err3 := counter("lines_joined_total",
		"Lines rejoined from the pieces the container runtime split them into.")
	flushed, err4 := counter("partial_lines_flushed_total",
		"Split lines sent flagged partial because their last piece did not come within partial_line_timeout.")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	return &sourceMetrics{
		containers:     containers.MustCurryWith(labels),
		decodeErrors:   decodeErrors.With(labels),
		joined:         joined.With(labels),
		partialFlushed: flushed.With(labels),
	}, nil
}

// setStates counts the containers by state.
func (sm *sourceMetrics) setStates(st follow.States) {
	sm.containers.WithLabelValues(stateReading).Set(float64(st.Reading))
	sm.containers.WithLabelValues(stateWaiting).Set(float64(st.Waiting))
	sm.containers.WithLabelValues(stateFinishing).Set(float64(st.Finishing))
}
