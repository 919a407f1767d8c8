package nomad

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/metrics"
)

// Metrics are the instruments of one watcher, labelled like drover's
// component metrics (component_kind, component_type, component_id):
//
//	drover_nomad_allocations{selection="selected"|"unselected"}  gauge
//	drover_nomad_targets                                          gauge
//	drover_nomad_api_errors_total{kind}                           counter
//	drover_nomad_request_duration_seconds{request}                histogram
//	drover_nomad_last_sync_timestamp_seconds                      gauge
//	drover_nomad_index                                            gauge
//	drover_nomad_index_resets_total                               counter
//	drover_nomad_resyncs_total                                    counter
//	drover_nomad_resync_corrections_total                         counter
//	drover_nomad_group_updates_total                              counter
//
// request is "blocking" (a blocking query), "full" (a non-blocking read of
// the whole list: first read, resync, after an error), "lookup", or
// "node" (resolving the node). Discovery lag is
// time() - drover_nomad_last_sync_timestamp_seconds.
type Metrics struct {
	// AllocationsSelected and AllocationsUnselected count the allocations
	// of the last list with and without targets.
	AllocationsSelected   prometheus.Gauge
	AllocationsUnselected prometheus.Gauge
	Targets               prometheus.Gauge
	LastSync              prometheus.Gauge
	Index                 prometheus.Gauge
	IndexResets           prometheus.Counter
	Resyncs               prometheus.Counter
	ResyncCorrections     prometheus.Counter
	GroupUpdates          prometheus.Counter

	apiErrors *prometheus.CounterVec
	duration  prometheus.ObserverVec
}

var labelNames = []string{"component_kind", "component_type", "component_id"}

// NewMetrics registers the watcher metrics with reg (or reuses the ones a
// previous watcher registered there, so that a component rebuilt under the
// same id continues its series) and returns the instruments of one
// component. A nil reg gives working, unregistered instruments.
func NewMetrics(reg prometheus.Registerer, kind, typ, id string) (*Metrics, error) {
	l := prometheus.Labels{"component_kind": kind, "component_type": typ, "component_id": id}
	var err error
	gauge := func(name, help string, extra ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "drover", Subsystem: "nomad", Name: name, Help: help},
			append(append([]string{}, labelNames...), extra...))
		v, e := metrics.RegisterOrReuse(reg, v)
		err = errors.Join(err, e)
		return v
	}
	counter := func(name, help string, extra ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "drover", Subsystem: "nomad", Name: name, Help: help},
			append(append([]string{}, labelNames...), extra...))
		v, e := metrics.RegisterOrReuse(reg, v)
		err = errors.Join(err, e)
		return v
	}
	allocs := gauge("allocations", "Allocations in the node's list, by whether any of their tasks is selected.", "selection")
	targets := gauge("targets", "Task log streams (allocation x task x stream) to ship.")
	lastSync := gauge("last_sync_timestamp_seconds", "Unix time of the last successful answer of the Nomad API.")
	index := gauge("index", "X-Nomad-Index up to which the node's allocation list was applied.")
	resets := counter("index_resets_total", "Times the X-Nomad-Index went backwards and the watch started over.")
	resyncs := counter("resyncs_total", "Periodic full reads of the node's allocation list.")
	corrections := counter("resync_corrections_total", "Allocations whose state a periodic resync found different from what the blocking queries had reported.")
	updates := counter("group_updates_total", "Allocation groups sent to the consumer.")
	apiErrors := counter("api_errors_total", "Failed Nomad API requests, by kind.", "kind")
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "drover", Subsystem: "nomad", Name: "request_duration_seconds",
		Help:    "Duration of Nomad API requests, by request; blocking queries last up to blocking_wait.",
		Buckets: []float64{.005, .025, .1, .5, 1, 5, 30, 60, 300, 600},
	}, append(append([]string{}, labelNames...), "request"))
	dur, e := metrics.RegisterOrReuse(reg, dur)
	err = errors.Join(err, e)
	if err != nil {
		return nil, err
	}
	with := func(extra, value string) prometheus.Labels {
		out := prometheus.Labels{extra: value}
		for k, v := range l {
			out[k] = v
		}
		return out
	}
	return &Metrics{
		AllocationsSelected:   allocs.With(with("selection", "selected")),
		AllocationsUnselected: allocs.With(with("selection", "unselected")),
		Targets:               targets.With(l),
		LastSync:              lastSync.With(l),
		Index:                 index.With(l),
		IndexResets:           resets.With(l),
		Resyncs:               resyncs.With(l),
		ResyncCorrections:     corrections.With(l),
		GroupUpdates:          updates.With(l),
		apiErrors:             apiErrors.MustCurryWith(l),
		duration:              dur.MustCurryWith(l),
	}, nil
}

// APIErrors counts a failed request of a kind.
func (m *Metrics) APIErrors(kind ErrorKind) prometheus.Counter {
	return m.apiErrors.With(prometheus.Labels{"kind": string(kind)})
}

// RequestDuration observes the duration of a request ("blocking", "full",
// "lookup", "node").
func (m *Metrics) RequestDuration(request string) prometheus.Observer {
	return m.duration.With(prometheus.Labels{"request": request})
}

// testMetrics returns unregistered instruments.
func testMetrics() *Metrics {
	m, err := NewMetrics(nil, "source", SourceType, "test")
	if err != nil {
		panic(err)
	}
	return m
}
