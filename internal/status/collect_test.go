package status

import (
	"errors"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
)

type describing struct{ d Description }

func (s describing) Describe() Description { return s.d }

// The Collector joins the topology's components, their health, their
// series and their own descriptions, and measures rates between calls.
func TestCollectorAssemblesTheStatus(t *testing.T) {
	reg := metrics.New()
	src := reg.Component("source", "file", "files")
	sink := reg.Component("sink", "http", "out")
	hr := health.NewRegistry(nil)
	rep := hr.Register("sink", "http", "out")
	rep.Set(health.ConditionDelivery, health.Failing, "unreachable", "connection refused")
	mon := health.NewMonitor(health.MonitorConfig{Registry: hr, Phase: func() health.Phase { return health.PhaseRunning }})
	clock := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var reloads Reloads
	reloads.Add(Reload{Time: clock, OK: true, Added: []string{"files", "out"}})
	reloads.Add(Reload{Time: clock.Add(time.Minute), Error: errors.New("bad").Error()})
	c := NewCollector(Sources{
		Running: func() []Running {
			return []Running{
				{Kind: "sink", Type: "http", ID: "out", Inputs: []string{"files"}, Instance: struct{}{}},
				{Kind: "source", Type: "file", ID: "files", Instance: describing{Description{
					Targets: []Target{{Key: "b", State: StateParked}, {Key: "a", State: StateFollowing, BytesBehind: 10}},
					Detail:  map[string]int{"x": 1},
				}}},
			}
		},
		Health: mon.Status, Metrics: reg.Gatherer(), Reloads: &reloads, Host: "node", Version: "v1",
		Now: func() time.Time { return clock },
	})
	src.ReceivedEvents.Add(100)
	src.SentEvents.Add(100)
	src.BytesBehind("/a").Set(10)
	sink.BufferEvents.Set(7)
	sink.InFlight.Set(2)
	sink.LastDelivery().Set(float64(clock.Add(-time.Minute).Unix()))
	st := c.Status()
	if len(st.Components) != 2 || st.Components[0].ID != "files" || st.Components[1].ID != "out" {
		t.Fatalf("components not in source, sink order: %+v", st.Components)
	}
	files, out := st.Components[0], st.Components[1]
	if files.EventsIn != 100 || files.BytesBehind != 10 || files.Targets != 2 || files.Detail == nil || files.RateIn != 0 {
		t.Errorf("source: %+v", files)
	}
	if out.State != health.Failing || out.Sink == nil || !out.Sink.Retrying || out.Sink.Reason != "unreachable" ||
		out.Sink.LastError != "connection refused" || out.Sink.Queue != 7 || out.Sink.InFlight != 2 || !out.Sink.LastDelivery.Equal(clock.Add(-time.Minute)) {
		t.Errorf("sink: %+v %+v", out, out.Sink)
	}
	if len(st.Targets) != 2 || st.Targets[0].Key != "a" || st.Targets[0].Component != "files" {
		t.Errorf("targets not owned and sorted: %+v", st.Targets)
	}
	if len(st.Reloads) != 2 || st.Reloads[0].OK || st.Reloads[1].Added[0] != "files" {
		t.Errorf("reloads not newest first: %+v", st.Reloads)
	}
	// 50 more events over 2s: 25 events/s.
	clock = clock.Add(2 * time.Second)
	src.ReceivedEvents.Add(50)
	if got := c.Status().Components[0].RateIn; got != 25 {
		t.Errorf("rate in = %v, want 25", got)
	}
	// A call sooner than minRateInterval keeps the last rate.
	clock = clock.Add(100 * time.Millisecond)
	src.ReceivedEvents.Add(1000)
	if got := c.Status().Components[0].RateIn; got != 25 {
		t.Errorf("rate in after a quick second call = %v, want 25", got)
	}
}

func TestShipped(t *testing.T) {
	for _, c := range []struct {
		t    Target
		want bool
	}{
		{Target{State: StateFollowing}, true},
		{Target{State: StateParked}, true},
		{Target{State: StateFollowing, BytesBehind: 1}, false},
		{Target{State: StateFollowing, Unacknowledged: true}, false},
		{Target{State: StateExcluded}, false},
		{Target{State: StateFailing}, false},
		{Target{State: StateWaitingMetadata}, false},
	} {
		if got := c.t.Shipped(); got != c.want {
			t.Errorf("%+v: Shipped = %v", c.t, got)
		}
	}
}
