package metrics

import "github.com/prometheus/client_golang/prometheus"

// deliveryVecs are the metrics of a sink's delivery.
type deliveryVecs struct {
	last     *prometheus.GaugeVec
	failures *prometheus.CounterVec
}

func newDeliveryVecs(gauge func(name, help string, extra ...string) *prometheus.GaugeVec,
	counter func(name, help string, extra ...string) *prometheus.CounterVec) deliveryVecs {
	return deliveryVecs{
		last: gauge("component_last_delivery_timestamp_seconds",
			"Unix time of the sink's last request that its destination accepted (in whole or in part); 0 until the first."),
		failures: counter("component_delivery_failures_total",
			"A sink's attempts that failed and are retried, by cause (unreachable, timeout, throttled, server_error, unauthorized, forbidden, not_found, ...).", "reason"),
	}
}

// LastDelivery is the gauge of the time of the sink's last delivery. A sink
// that asks for it has the series from then on (0 until it delivers).
func (c *Component) LastDelivery() prometheus.Gauge { return c.r.delivery.last.With(c.labels) }

// DeliveryFailures counts a sink's failed attempts for a reason.
func (c *Component) DeliveryFailures(reason string) prometheus.Counter {
	return c.r.delivery.failures.With(c.with("reason", reason))
}
