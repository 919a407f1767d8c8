package nomadlogs

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/follow"
	"github.com/drover-dev/drover/internal/status"
)

// Detail is what the source shows about itself beyond its targets.
type Detail struct {
	// DiscoveryLag is drover_nomad_discovery_lag_seconds: the seconds
	// since the Nomad API last answered the allocation watch, as of the
	// last scan of the alloc dir.
	DiscoveryLag float64            `json:"discovery_lag_seconds"`
	Files        follow.FilesStatus `json:"files"`
}

// Describe lists the task streams the source follows, with their state and
// positions, and the streams of the tasks its selection leaves out, with
// the rule or hint that does (status.Describer).
func (s *Source) Describe() status.Description {
	ts := s.f.Targets()
	for _, e := range s.w.Excluded() {
		for _, st := range nomad.Streams {
			t := nomad.Target{AllocID: e.AllocID, Task: e.Task, Stream: st}
			ts = append(ts, status.Target{
				Kind: status.TargetNomadStream, Key: t.Key(), State: status.StateExcluded, Reason: e.Rule,
				Labels: map[string]string{"alloc_id": e.AllocID, "namespace": e.Namespace, "job": e.Job,
					"group": e.Group, "task": e.Task, "stream": string(st)},
			})
		}
	}
	d := Detail{Files: s.f.FilesStatus()}
	var m dto.Metric
	if s.sm.lag.Write(&m) == nil {
		d.DiscoveryLag = m.GetGauge().GetValue()
	}
	return status.Description{Targets: ts, Detail: d}
}
