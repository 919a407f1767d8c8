package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// lazyCounter is a counter whose series is created in its vector the first
// time it is used, not when the component is built.
type lazyCounter struct {
	vec    *prometheus.CounterVec
	labels prometheus.Labels
	once   sync.Once
	c      prometheus.Counter
}

func (l *lazyCounter) get() prometheus.Counter {
	l.once.Do(func() { l.c = l.vec.With(l.labels) })
	return l.c
}

func (l *lazyCounter) show()                               { l.get() }
func (l *lazyCounter) Inc()                                { l.get().Inc() }
func (l *lazyCounter) Add(v float64)                       { l.get().Add(v) }
func (l *lazyCounter) Desc() *prometheus.Desc              { return l.get().Desc() }
func (l *lazyCounter) Write(m *dto.Metric) error           { return l.get().Write(m) }
func (l *lazyCounter) Describe(ch chan<- *prometheus.Desc) { l.get().Describe(ch) }
func (l *lazyCounter) Collect(ch chan<- prometheus.Metric) { l.get().Collect(ch) }

// lazyGauge is a gauge whose series is created in its vector the first
// time it is used.
type lazyGauge struct {
	vec    *prometheus.GaugeVec
	labels prometheus.Labels
	once   sync.Once
	g      prometheus.Gauge
}

func (l *lazyGauge) get() prometheus.Gauge {
	l.once.Do(func() { l.g = l.vec.With(l.labels) })
	return l.g
}

func (l *lazyGauge) show()                               { l.get() }
func (l *lazyGauge) Set(v float64)                       { l.get().Set(v) }
func (l *lazyGauge) Inc()                                { l.get().Inc() }
func (l *lazyGauge) Dec()                                { l.get().Dec() }
func (l *lazyGauge) Add(v float64)                       { l.get().Add(v) }
func (l *lazyGauge) Sub(v float64)                       { l.get().Sub(v) }
func (l *lazyGauge) SetToCurrentTime()                   { l.get().SetToCurrentTime() }
func (l *lazyGauge) Desc() *prometheus.Desc              { return l.get().Desc() }
func (l *lazyGauge) Write(m *dto.Metric) error           { return l.get().Write(m) }
func (l *lazyGauge) Describe(ch chan<- *prometheus.Desc) { l.get().Describe(ch) }
func (l *lazyGauge) Collect(ch chan<- prometheus.Metric) { l.get().Collect(ch) }

// lazyObserver is a histogram whose series is created in its vector with
// its first observation.
type lazyObserver struct {
	vec    *prometheus.HistogramVec
	labels prometheus.Labels
	once   sync.Once
	o      prometheus.Observer
}

func (l *lazyObserver) Observe(v float64) {
	l.once.Do(func() { l.o = l.vec.With(l.labels) })
	l.o.Observe(v)
}
