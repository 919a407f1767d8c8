package nomad

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/nomadtest"
)

func TestMetricsRegistered(t *testing.T) {
	reg := metrics.New()
	m, err := NewMetrics(reg.Registerer(), "source", SourceType, "apps")
	if err != nil {
		t.Fatal(err)
	}
	// A component rebuilt under the same id (reload) continues the series.
	again, err := NewMetrics(reg.Registerer(), "source", SourceType, "apps")
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	other, err := NewMetrics(reg.Registerer(), "source", SourceType, "other")
	if err != nil {
		t.Fatal(err)
	}
	m.IndexResets.Inc()
	again.IndexResets.Inc()
	other.APIErrors(KindForbidden).Inc()

	srv := nomadtest.New(t)
	srv.AddAlloc(nomadtest.Alloc{Tasks: []nomadtest.Task{{Name: "a"}, {Name: "b"}}})
	h := newHarness(t, srv, nil)
	h.w.m = m
	h.start()
	h.recv()

	want := `
# HELP drover_nomad_index_resets_total Times the X-Nomad-Index went backwards and the watch started over.
# TYPE drover_nomad_index_resets_total counter
drover_nomad_index_resets_total{component_id="apps",component_kind="source",component_type="nomad_logs"} 2
drover_nomad_index_resets_total{component_id="other",component_kind="source",component_type="nomad_logs"} 0
# HELP drover_nomad_targets Task log streams (allocation x task x stream) to ship.
# TYPE drover_nomad_targets gauge
drover_nomad_targets{component_id="apps",component_kind="source",component_type="nomad_logs"} 4
drover_nomad_targets{component_id="other",component_kind="source",component_type="nomad_logs"} 0
# HELP drover_nomad_api_errors_total Failed Nomad API requests, by kind.
# TYPE drover_nomad_api_errors_total counter
drover_nomad_api_errors_total{component_id="other",component_kind="source",component_type="nomad_logs",kind="forbidden"} 1
`
	if err := testutil.GatherAndCompare(reg.Gatherer(), strings.NewReader(want),
		"drover_nomad_index_resets_total", "drover_nomad_targets", "drover_nomad_api_errors_total"); err != nil {
		t.Error(err)
	}
	if v := testutil.ToFloat64(m.LastSync); v <= 0 {
		t.Errorf("last sync timestamp = %v", v)
	}
	if n := testutil.CollectAndCount(m.duration); n == 0 {
		t.Error("no request durations observed")
	}
}
