package nomadlogs

import (
	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/status"
)

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
	return status.Description{Targets: ts, Detail: s.f.FilesStatus()}
}
