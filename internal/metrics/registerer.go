package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Registerer is the registry the component's instruments live in, for a
// component that registers metrics of its own beside the shared ones (they
// then appear on the same /metrics endpoint). Label them with Labels.
func (c *Component) Registerer() prometheus.Registerer { return c.r.reg }

// Labels returns a copy of the component's labels: component_kind,
// component_type and component_id.
func (c *Component) Labels() prometheus.Labels {
	l := make(prometheus.Labels, len(c.labels))
	for k, v := range c.labels {
		l[k] = v
	}
	return l
}

// RegisterOrReuse registers c with reg, or returns the collector already
// registered there under the same description, so that a component
// rebuilt under the same id (on reload) continues its series. A nil reg
// leaves c unregistered: it works, and nothing collects it.
func RegisterOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
