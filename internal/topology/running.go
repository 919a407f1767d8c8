package topology

import (
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/status"
)

// Running lists the installed components of the running configuration,
// with the instance of each, for the status page (status.Collector). A
// component whose instance implements status.Describer describes itself.
// It does not wait for a reload or a stop under way: it returns the
// components of the last committed reload.
func (t *Topology) Running() []status.Running {
	if p := t.installed.Load(); p != nil {
		return *p
	}
	return nil
}

// publishRunning makes the components of the reload just committed the
// ones Running returns. Call it with t.mu held.
func (t *Topology) publishRunning() {
	out := make([]status.Running, 0, len(t.cfg.Components))
	for _, c := range t.cfg.Components {
		r := status.Running{Kind: string(c.Kind), Type: c.Type, ID: c.ID, Inputs: c.Inputs, Outputs: c.Outputs}
		switch c.Kind {
		case component.KindSource:
			if s := t.sources[c.ID]; s != nil {
				r.Instance = s.src
			}
		case component.KindTransform:
			if tr := t.transforms[c.ID]; tr != nil {
				r.Instance = tr.t
			}
		case component.KindSink:
			if s := t.sinks[c.ID]; s != nil {
				r.Instance = s.sink
			}
		}
		out = append(out, r)
	}
	t.installed.Store(&out)
}
