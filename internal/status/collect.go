package status

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/drover-dev/drover/internal/health"
)

// Running is one installed component as the topology knows it.
type Running struct {
	Kind, Type, ID string
	Inputs         []string
	Outputs        []string
	// Instance is the component (a Source, Transform or Sink); the
	// Collector asks it to Describe itself when it implements Describer.
	Instance any
}

// Sources of a Collector.
type Sources struct {
	// Running lists the installed components (topology.Running).
	Running func() []Running
	// Health is drover's health now.
	Health func() health.Status
	// Metrics is the registry of drover's metrics.
	Metrics prometheus.Gatherer
	// Reloads holds the history of configuration loads.
	Reloads *Reloads
	Version string
	Host    string
	Started time.Time
	// Now defaults to time.Now.
	Now func() time.Time
}

// minRateInterval is the shortest interval over which rates are measured:
// requests that come sooner get the last rates again.
const minRateInterval = 500 * time.Millisecond

// Collector assembles Status documents. It is safe for concurrent use.
type Collector struct {
	src Sources

	mu    sync.Mutex
	last  time.Time
	prev  map[string][2]float64 // component key -> events in, out at last
	rates map[string][2]float64
}

// NewCollector returns a Collector over src.
func NewCollector(src Sources) *Collector {
	if src.Now == nil {
		src.Now = time.Now
	}
	return &Collector{src: src, prev: map[string][2]float64{}, rates: map[string][2]float64{}}
}

// Status returns the status now.
func (c *Collector) Status() Status {
	now := c.src.Now()
	st := Status{Time: now, Version: c.src.Version, Host: c.src.Host, Started: c.src.Started,
		Components: []Component{}, Targets: []Target{}, Reloads: []Reload{}}
	hs := health.Status{}
	if c.src.Health != nil {
		hs = c.src.Health()
	}
	st.Health = Health{Status: hs.Status, Ready: hs.Ready, Phase: hs.Phase, Reasons: hs.Reasons}
	if st.Health.Reasons == nil {
		st.Health.Reasons = []health.Reason{}
	}
	healthOf := map[string]health.Component{}
	for _, h := range hs.Components {
		healthOf[h.Kind+"/"+h.ID] = h
	}
	figures := gatherFigures(c.src.Metrics)
	var running []Running
	if c.src.Running != nil {
		running = c.src.Running()
	}
	for _, r := range running {
		key := r.Kind + "/" + r.ID
		comp := Component{Kind: r.Kind, Type: r.Type, ID: r.ID, Inputs: r.Inputs, Outputs: r.Outputs,
			Conditions: []health.Condition{}}
		if comp.Inputs == nil {
			comp.Inputs = []string{}
		}
		if h, ok := healthOf[key]; ok {
			comp.State, comp.Conditions = h.State, h.Conditions
		}
		f := figures[key]
		comp.EventsIn, comp.EventsOut = f.get("component_received_events_total"), f.get("component_sent_events_total")
		comp.BytesIn, comp.BytesOut = f.get("component_received_bytes_total"), f.get("component_sent_bytes_total")
		comp.Errors, comp.Discarded = f.get("component_errors_total"), f.get("component_discarded_events_total")
		comp.BytesBehind, comp.FilesOpen = f.get("file_bytes_behind"), f.get("files_open")
		comp.Unacknowledged = f.get("checkpoint_unacknowledged_batches")
		if r.Kind == "sink" {
			comp.Sink = sinkOf(f, comp.Conditions)
		}
		if d, ok := r.Instance.(Describer); ok {
			desc := d.Describe()
			comp.Detail = desc.Detail
			comp.Targets = len(desc.Targets)
			for _, t := range desc.Targets {
				t.Component = r.ID
				st.Targets = append(st.Targets, t)
			}
		}
		st.Components = append(st.Components, comp)
	}
	c.rate(now, st.Components)
	slices.SortFunc(st.Components, func(a, b Component) int {
		return cmp.Or(cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)), cmp.Compare(a.ID, b.ID))
	})
	slices.SortFunc(st.Targets, func(a, b Target) int {
		return cmp.Or(cmp.Compare(a.Component, b.Component), cmp.Compare(a.Key, b.Key))
	})
	if c.src.Reloads != nil {
		st.Reloads = c.src.Reloads.List()
	}
	return st
}

// rate fills the components' rates from the change of their counters since
// the last measure, at least minRateInterval ago.
func (c *Collector) rate(now time.Time, comps []Component) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dt := now.Sub(c.last).Seconds()
	fresh := !c.last.IsZero() && now.Sub(c.last) >= minRateInterval
	if c.last.IsZero() || fresh {
		next := make(map[string][2]float64, len(comps))
		for _, comp := range comps {
			key := comp.Kind + "/" + comp.ID
			cur := [2]float64{comp.EventsIn, comp.EventsOut}
			next[key] = cur
			if p, ok := c.prev[key]; ok && fresh {
				c.rates[key] = [2]float64{max(cur[0]-p[0], 0) / dt, max(cur[1]-p[1], 0) / dt}
			}
		}
		c.prev, c.last = next, now
	}
	for i := range comps {
		r := c.rates[comps[i].Kind+"/"+comps[i].ID]
		comps[i].RateIn, comps[i].RateOut = r[0], r[1]
	}
}

func kindOrder(kind string) int {
	switch kind {
	case "source":
		return 0
	case "transform":
		return 1
	}
	return 2
}

// sinkOf reads a sink's delivery from its series and health.
func sinkOf(f figureSet, conds []health.Condition) *Sink {
	s := &Sink{
		Queue: f.get("buffer_events"), QueueBytes: f.get("buffer_bytes"), OldestAge: f.get("buffer_oldest_event_age_seconds"),
		InFlight: f.get("component_requests_in_flight"),
		Retries:  f.get("component_retries_total"), Failures: f.get("component_delivery_failures_total"),
	}
	if ts := f.get("component_last_delivery_timestamp_seconds"); ts > 0 {
		s.LastDelivery = time.Unix(0, int64(ts*1e9)).UTC()
	}
	for _, c := range conds {
		if c.Name == health.ConditionDelivery {
			s.Retrying, s.Since, s.Reason, s.LastError = true, c.StateSince, c.Reason, c.Message
		}
		if c.Name == health.ConditionRejections && s.LastError == "" {
			s.LastError = c.Message
		}
	}
	return s
}

// figureSet sums a component's series by metric name (without "drover_").
type figureSet map[string]float64

func (f figureSet) get(name string) float64 { return f[name] }

// gatherFigures reads every drover_ series labelled with a component and
// sums it by component and name.
func gatherFigures(g prometheus.Gatherer) map[string]figureSet {
	out := map[string]figureSet{}
	if g == nil {
		return out
	}
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		return out
	}
	for _, mf := range mfs {
		name, ok := strings.CutPrefix(mf.GetName(), "drover_")
		if !ok {
			continue
		}
		for _, m := range mf.GetMetric() {
			var kind, id string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "component_kind":
					kind = l.GetValue()
				case "component_id":
					id = l.GetValue()
				}
			}
			if kind == "" {
				continue
			}
			key := kind + "/" + id
			fs := out[key]
			if fs == nil {
				fs = figureSet{}
				out[key] = fs
			}
			fs[name] += value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// Reloads keeps the last configuration loads. It is safe for concurrent
// use; a nil *Reloads records nothing.
type Reloads struct {
	mu   sync.Mutex
	list []Reload
}

// maxReloads is how many loads Reloads keeps.
const maxReloads = 10

// Add records a load.
func (r *Reloads) Add(l Reload) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append([]Reload{l}, r.list...)
	if len(r.list) > maxReloads {
		r.list = r.list[:maxReloads]
	}
}

// List returns the loads, newest first.
func (r *Reloads) List() []Reload {
	if r == nil {
		return []Reload{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Reload{}, r.list...)
}
