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
	retries        *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
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
	r.checkpointLag = gauge("checkpoint_unacknowledged_batches", "Batches emitted by the source and not yet acknowledged by every sink.")
	r.requestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "component_request_duration_seconds",
		Help:    "Duration of a sink's requests to its destination, by outcome.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, append(append([]string{}, componentLabels...), "outcome"))
	r.reg.MustRegister(r.requestSeconds)
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
func (r *Registry) Component(kind, typ, id string) *Component {
	l := prometheus.Labels{"component_kind": kind, "component_type": typ, "component_id": id}
	return &Component{
		r:              r,
		labels:         l,
		ReceivedEvents: r.receivedEvents.With(l),
		ReceivedBytes:  r.receivedBytes.With(l),
		SentEvents:     r.sentEvents.With(l),
		SentBytes:      r.sentBytes.With(l),
		Retries:        r.retries.With(l),
		BufferEvents:   r.bufferEvents.With(l),
		BufferBytes:    r.bufferBytes.With(l),
		BufferAge:      r.bufferAge.With(l),
		FilesOpen:      r.filesOpen.With(l),
		Unacknowledged: r.checkpointLag.With(l),
	}
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
// ("ok", "retry", "rejected").
func (c *Component) RequestDuration(outcome string) prometheus.Observer {
	return c.r.requestSeconds.With(c.with("outcome", outcome))
}

// BytesBehind is the gauge of one file's unread bytes.
func (c *Component) BytesBehind(file string) prometheus.Gauge {
	return c.r.bytesBehind.With(c.with("file", file))
}

// ForgetFile removes the per-file series of a file the source closed.
func (c *Component) ForgetFile(file string) {
	c.r.bytesBehind.Delete(c.with("file", file))
}

// ForTest returns the instruments of a component on a fresh registry.
func ForTest(kind, typ, id string) *Component { return New().Component(kind, typ, id) }
