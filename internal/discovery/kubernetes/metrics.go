package kubernetes

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/metrics"
)

// Metrics are the instruments of one discoverer, labelled like drover's
// component metrics (component_kind, component_type, component_id):
//
//	drover_kubernetes_pods{selection="selected"|"unselected"}  gauge
//	drover_kubernetes_targets                                   gauge
//	drover_kubernetes_requests_total{resource,request}          counter
//	drover_kubernetes_api_errors_total{resource,reason}         counter
//	drover_kubernetes_last_sync_timestamp_seconds               gauge
//	drover_kubernetes_path_metadata_total{reason}               counter
//	drover_kubernetes_group_updates_total                       counter
//	drover_kubernetes_scan_errors_total                         counter
//
// request is "list" or "watch" (resource "pods" or "namespaces"): lists
// after the first one of a resource are relists (a 410 Gone, a watch-list
// that could not resume). reason of api_errors_total is "expired" (410),
// "forbidden", "unauthorized", "unavailable" (5xx, 429), "network" (the
// API could not be reached or the connection broke), "other".
// path_metadata_total counts the containers shipped with the metadata
// their path tells, by reason: "unknown_pod" (the API, in sync, never
// showed the pod) or "api_unavailable" (the API could not be read).
type Metrics struct {
	PodsSelected   prometheus.Gauge
	PodsUnselected prometheus.Gauge
	Targets        prometheus.Gauge
	LastSync       prometheus.Gauge
	GroupUpdates   prometheus.Counter
	ScanErrors     prometheus.Counter

	requests *prometheus.CounterVec
	errs     *prometheus.CounterVec
	pathMeta *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg (reusing the ones a previous
// discoverer registered there) and returns the instruments of one
// component. A nil reg gives working, unregistered instruments.
func NewMetrics(reg prometheus.Registerer, kind, typ, id string) (*Metrics, error) {
	l := prometheus.Labels{"component_kind": kind, "component_type": typ, "component_id": id}
	names := []string{"component_kind", "component_type", "component_id"}
	var err error
	vec := func(c *prometheus.CounterVec) *prometheus.CounterVec {
		if reg == nil {
			return c
		}
		c, e := metrics.RegisterOrReuse(reg, c)
		err = errors.Join(err, e)
		return c
	}
	gvec := func(g *prometheus.GaugeVec) *prometheus.GaugeVec {
		if reg == nil {
			return g
		}
		g, e := metrics.RegisterOrReuse(reg, g)
		err = errors.Join(err, e)
		return g
	}
	counter := func(name, help string, extra ...string) *prometheus.CounterVec {
		return vec(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "drover", Subsystem: "kubernetes", Name: name, Help: help},
			append(append([]string{}, names...), extra...)))
	}
	gauge := func(name, help string, extra ...string) *prometheus.GaugeVec {
		return gvec(prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "drover", Subsystem: "kubernetes", Name: name, Help: help},
			append(append([]string{}, names...), extra...)))
	}
	pods := gauge("pods", "Pods of the node known to discovery, by whether any of their containers is selected.", "selection")
	targets := gauge("targets", "Containers whose logs are followed.")
	lastSync := gauge("last_sync_timestamp_seconds", "Unix time of the last successful list or watch request to the Kubernetes API.")
	updates := counter("group_updates_total", "Pod groups sent to the follower.")
	scanErrs := counter("scan_errors_total", "Failed listings of the pod log directory.")
	requests := counter("requests_total", "List and watch requests to the Kubernetes API, by resource and request.", "resource", "request")
	apiErrs := counter("api_errors_total", "Failed or broken list and watch requests, by resource and reason.", "resource", "reason")
	pathMeta := counter("path_metadata_total", "Containers shipped with the metadata their path tells, by reason.", "reason")
	if err != nil {
		return nil, err
	}
	with := func(k, v string) prometheus.Labels {
		out := prometheus.Labels{k: v}
		for lk, lv := range l {
			out[lk] = lv
		}
		return out
	}
	return &Metrics{
		PodsSelected:   pods.With(with("selection", "selected")),
		PodsUnselected: pods.With(with("selection", "unselected")),
		Targets:        targets.With(l),
		LastSync:       lastSync.With(l),
		GroupUpdates:   updates.With(l),
		ScanErrors:     scanErrs.With(l),
		requests:       requests.MustCurryWith(l),
		errs:           apiErrs.MustCurryWith(l),
		pathMeta:       pathMeta.MustCurryWith(l),
	}, nil
}

// Requests counts list or watch requests of a resource.
func (m *Metrics) Requests(resource, request string) prometheus.Counter {
	return m.requests.With(prometheus.Labels{"resource": resource, "request": request})
}

// APIErrors counts failed requests of a resource by reason.
func (m *Metrics) APIErrors(resource, reason string) prometheus.Counter {
	return m.errs.With(prometheus.Labels{"resource": resource, "reason": reason})
}

// PathMetadata counts containers shipped with path metadata, by reason.
func (m *Metrics) PathMetadata(reason string) prometheus.Counter {
	return m.pathMeta.With(prometheus.Labels{"reason": reason})
}

func testMetrics() *Metrics {
	m, err := NewMetrics(nil, "source", SourceType, "test")
	if err != nil {
		panic(err)
	}
	return m
}
