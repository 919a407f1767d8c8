// Package metrics holds drover's Prometheus metrics. Names follow Vector's
// component specification with a drover_ prefix; every component metric is
// labelled with component_kind, component_type and component_id.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const ns = "drover"

var componentLabels = []string{"component_kind", "component_type", "component_id"}

// Registry owns every drover metric. Components get their pre-labelled
// instruments from Component; a component that is rebuilt under the same id
// (on reload) continues the same series.
type Registry struct {
	reg *prometheus.Registry

	receivedEvents *prometheus.CounterVec
	receivedBytes  *prometheus.CounterVec
	sentEvents     *prometheus.CounterVec
	sentBytes      *prometheus.CounterVec
	discarded      *prometheus.CounterVec
	errors         *prometheus.CounterVec
	bufferEvents   *prometheus.GaugeVec
	bufferBytes    *prometheus.GaugeVec
	bufferAge      *prometheus.GaugeVec
	filesOpen      *prometheus.GaugeVec
	bytesBehind    *prometheus.GaugeVec
	checkpointLag  *prometheus.GaugeVec
	inFlight       *prometheus.GaugeVec
	retries        *prometheus.CounterVec
	files          fileSeries
	requestSeconds *prometheus.HistogramVec
	process        processMetrics
	delivery       deliveryVecs
}

// New returns a registry with the component metrics and the Go runtime and
// process collectors registered.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	counter := func(name, help string, extra ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help},
			append(append([]string{}, componentLabels...), extra...))
		r.reg.MustRegister(v)
		return v
	}
	gauge := func(name, help string, extra ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help},
			append(append([]string{}, componentLabels...), extra...))
		r.reg.MustRegister(v)
		return v
	}
	r.receivedEvents = counter("component_received_events_total", "Events the component received (sources: read from their origin).")
	r.receivedBytes = counter("component_received_bytes_total", "Bytes the component received (sources: bytes read, sinks: message bytes).")
	r.sentEvents = counter("component_sent_events_total", "Events the component sent on (sources: emitted, sinks: acknowledged by the destination).")
	r.sentBytes = counter("component_sent_bytes_total", "Bytes the component sent (sinks: encoded request bytes before compression).")
	r.discarded = counter("component_discarded_events_total", "Events the component discarded, by reason.", "reason")
	r.errors = counter("component_errors_total", "Errors the component met, by stage.", "stage")
	r.retries = counter("component_retries_total", "Requests a sink sent again after a transient failure.")
	r.bufferEvents = gauge("buffer_events", "Events waiting in the component's input buffer or in flight.")
	r.bufferBytes = gauge("buffer_bytes", "Message bytes waiting in the component's input buffer or in flight.")
	r.bufferAge = gauge("buffer_oldest_event_age_seconds", "Age of the oldest record in the component's disk buffer that the sink has not acknowledged, by the time it was written to the buffer; 0 when there is none.")
	r.filesOpen = gauge("files_open", "Files the source holds open.")
	r.bytesBehind = gauge("file_bytes_behind", "Bytes between the read position and the end of the file.", "file")
	r.inFlight = gauge("component_requests_in_flight", "Requests a sink has sent and has no verdict for yet (retries of a request included).")
	r.checkpointLag = gauge("checkpoint_unacknowledged_batches", "Batches emitted by the source and not yet acknowledged by every sink.")
	r.requestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "component_request_duration_seconds",
		Help:    "Duration of a sink's requests to its destination, by outcome.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, append(append([]string{}, componentLabels...), "outcome"))
	r.reg.MustRegister(r.requestSeconds)
	r.files.init(r.bytesBehind)
	r.registerProcess()
	r.delivery = newDeliveryVecs(gauge, counter)
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Registerer lets packages register metrics of their own beside the shared ones.
func (r *Registry) Registerer() prometheus.Registerer { return r.reg }

// Gatherer returns the registry for reading, as tests and the admin endpoint do.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// Component returns the instruments of one component.
//
// A series appears on /metrics once it is used, so that no component shows
// series that can only be 0 (a sink's files_open, a memory buffer's
// oldest-event age). The series every component of its kind has are shown
// from the start, at 0, for alerting on rates: received and sent events of
// every kind, received bytes of sources, sent bytes, retries and buffer
// gauges of sinks.
func (r *Registry) Component(kind, typ, id string) *Component {
	l := prometheus.Labels{"component_kind": kind, "component_type": typ, "component_id": id}
	c := &Component{
		r:              r,
		labels:         l,
		ReceivedEvents: &lazyCounter{vec: r.receivedEvents, labels: l},
		ReceivedBytes:  &lazyCounter{vec: r.receivedBytes, labels: l},
		SentEvents:     &lazyCounter{vec: r.sentEvents, labels: l},
		SentBytes:      &lazyCounter{vec: r.sentBytes, labels: l},
		Retries:        &lazyCounter{vec: r.retries, labels: l},
		BufferEvents:   &lazyGauge{vec: r.bufferEvents, labels: l},
		BufferBytes:    &lazyGauge{vec: r.bufferBytes, labels: l},
		BufferAge:      &lazyGauge{vec: r.bufferAge, labels: l},
		FilesOpen:      &lazyGauge{vec: r.filesOpen, labels: l},
		Unacknowledged: &lazyGauge{vec: r.checkpointLag, labels: l},
		InFlight:       &lazyGauge{vec: r.inFlight, labels: l},
	}
	shown := []prometheus.Collector{c.ReceivedEvents, c.SentEvents}
	switch kind {
	case "source":
		shown = append(shown, c.ReceivedBytes)
	case "sink":
		shown = append(shown, c.SentBytes, c.Retries, c.BufferEvents, c.BufferBytes)
	}
	for _, m := range shown {
		m.(interface{ show() }).show()
	}
	return c
}

// Component is the set of instruments of one component.
type Component struct {
	r      *Registry
	labels prometheus.Labels

	ReceivedEvents prometheus.Counter
	ReceivedBytes  prometheus.Counter
	SentEvents     prometheus.Counter
	SentBytes      prometheus.Counter
	Retries        prometheus.Counter
	BufferEvents   prometheus.Gauge
	BufferBytes    prometheus.Gauge
	BufferAge      prometheus.Gauge // seconds since the oldest unacknowledged record entered a disk buffer
	FilesOpen      prometheus.Gauge
	Unacknowledged prometheus.Gauge
	InFlight       prometheus.Gauge // requests a sink sent without a verdict yet
}

func (c *Component) with(extra, value string) prometheus.Labels {
	l := make(prometheus.Labels, len(c.labels)+1)
	for k, v := range c.labels {
		l[k] = v
	}
	l[extra] = value
	return l
}

// Discarded counts events discarded for a reason (a short snake_case word
// such as "line_too_long" or "rejected_by_sink").
func (c *Component) Discarded(reason string) prometheus.Counter {
	return c.r.discarded.With(c.with("reason", reason))
}

// Errors counts errors at a stage ("open", "read", "checkpoint", "send", ...).
func (c *Component) Errors(stage string) prometheus.Counter {
	return c.r.errors.With(c.with("stage", stage))
}

// RequestDuration observes a sink request's duration for an outcome
// ("ok", "retry", "rejected", "partial"). The outcome's histogram appears
// with its first observation: a sink that never answers event by event
// shows no "partial" histogram.
func (c *Component) RequestDuration(outcome string) prometheus.Observer {
	return &lazyObserver{vec: c.r.requestSeconds, labels: c.with("outcome", outcome)}
}

// BytesBehind is the gauge of one file's unread bytes: a series of its own
// (file="<path>") while the component has fewer than the registry's file
// series limit (SetFileSeriesLimit), else its share of the component's
// file="_other" series, which sums the files beyond the limit.
func (c *Component) BytesBehind(file string) prometheus.Gauge {
	return c.r.files.of(c).behind(file)
}

// ForgetFile removes a file the source closed from its series: its own, or
// its share of file="_other".
func (c *Component) ForgetFile(file string) {
	c.r.files.of(c).forget(file)
}

// ForTest returns the instruments of a component on a fresh registry.
func ForTest(kind, typ, id string) *Component { return New().Component(kind, typ, id) }
