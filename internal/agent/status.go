package agent

import (
	"time"

	"github.com/drover-dev/drover/internal/admin"
	"github.com/drover-dev/drover/internal/buildinfo"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/status"
	"github.com/drover-dev/drover/internal/topology"
)

// newStatus returns the collector of the status page's document.
func (a *Agent) newStatus(host string) *status.Collector {
	return status.NewCollector(status.Sources{
		Running: a.topo.Running, Health: a.monitor.Status, Metrics: a.metrics.Gatherer(),
		Reloads: &a.reloads, Version: buildinfo.Get().Version, Host: host, Started: time.Now().UTC(),
	})
}

// tap attaches a viewer to an output for /api/v1/tap.
func (a *Agent) tap(output string, sample int) (admin.TapStream, error) {
	t, err := a.topo.Tap(output, sample)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// noteLoad records a configuration load for the status page.
func (a *Agent) noteLoad(ch topology.Changes, err error) {
	l := status.Reload{Time: time.Now().UTC(), OK: err == nil, Added: ch.Added, Changed: ch.Changed, Removed: ch.Removed}
	if err != nil {
		l.Error = err.Error()
	}
	a.reloads.Add(l)
}

// Overview is the status page's document now (what /api/v1/status serves).
func (a *Agent) Overview() status.Status { return a.status.Status() }

// componentIDs lists the ids of cfg's components.
func componentIDs(cfg *config.Config) []string {
	ids := make([]string, len(cfg.Components))
	for i, c := range cfg.Components {
		ids[i] = c.ID
	}
	return ids
}
