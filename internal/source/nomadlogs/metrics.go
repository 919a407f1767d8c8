package nomadlogs

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/follow"
	"github.com/drover-dev/drover/internal/metrics"
)

// Stream states, the "state" label of drover_nomad_streams.
const (
	stateReading   = "reading"          // metadata known, following the files
	stateWaiting   = "waiting_metadata" // files held open, waiting for the allocation's metadata
	stateFinishing = "finishing"        // no more writes expected: reading to the end before release
)

// sourceMetrics are the instruments of the source beside the shared
// component metrics and the discovery metrics:
//
//	drover_nomad_streams{state}                       gauge
//	drover_nomad_streams_path_metadata_total           counter
//	drover_nomad_discovery_lag_seconds                 gauge
type sourceMetrics struct {
	streams  *prometheus.GaugeVec // curried with the component labels
	pathMeta prometheus.Counter
	lag      prometheus.Gauge
}

func newSourceMetrics(m *metrics.Component) (*sourceMetrics, error) {
	reg, labels := m.Registerer(), m.Labels()
	names := []string{"component_kind", "component_type", "component_id"}
	streams, err1 := metrics.RegisterOrReuse(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "drover", Subsystem: "nomad", Name: "streams",
		Help: "Task log streams (allocation x task x stream) the source follows, by state.",
	}, append(append([]string{}, names...), "state")))
	pathMeta, err2 := metrics.RegisterOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "drover", Subsystem: "nomad", Name: "streams_path_metadata_total",
		Help: "Streams shipped with the metadata their path gives, because the Nomad API did not describe their allocation within unknown_alloc_wait.",
	}, names))
	lag, err3 := metrics.RegisterOrReuse(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "drover", Subsystem: "nomad", Name: "discovery_lag_seconds",
		Help: "Seconds since the Nomad API last answered the allocation watch, updated at every scan of the alloc dir.",
	}, names))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	return &sourceMetrics{
		streams:  streams.MustCurryWith(labels),
		pathMeta: pathMeta.With(labels),
		lag:      lag.With(labels),
	}, nil
}

// setStates counts the streams by state.
func (sm *sourceMetrics) setStates(st follow.States) {
	sm.streams.WithLabelValues(stateReading).Set(float64(st.Reading))
	sm.streams.WithLabelValues(stateWaiting).Set(float64(st.Waiting))
	sm.streams.WithLabelValues(stateFinishing).Set(float64(st.Finishing))
}
