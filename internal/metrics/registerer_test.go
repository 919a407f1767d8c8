package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegisterOrReuse(t *testing.T) {
	c := New().Component("source", "nomad_logs", "tasks")
	if got := c.Labels(); len(got) != 3 || got["component_id"] != "tasks" {
		t.Fatalf("labels %v", got)
	}
	opts := prometheus.GaugeOpts{Name: "drover_test_gauge", Help: "test"}
	first, err := RegisterOrReuse(c.Registerer(), prometheus.NewGaugeVec(opts, []string{"component_id"}))
	if err != nil {
		t.Fatal(err)
	}
	again, err := RegisterOrReuse(c.Registerer(), prometheus.NewGaugeVec(opts, []string{"component_id"}))
	if err != nil || again != first {
		t.Fatalf("second registration: %v, same collector %v", err, again == first)
	}
	if _, err := RegisterOrReuse(c.Registerer(), prometheus.NewCounterVec(prometheus.CounterOpts(opts), []string{"other"})); err == nil {
		t.Fatal("a different collector under the same name was accepted")
	}
}

func TestRegisterOrReuseWithoutARegisterer(t *testing.T) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "drover_test_unregistered"})
	got, err := RegisterOrReuse(nil, g)
	if err != nil || got != g {
		t.Fatalf("RegisterOrReuse(nil, g) = %v, %v; want g itself", got, err)
	}
}
