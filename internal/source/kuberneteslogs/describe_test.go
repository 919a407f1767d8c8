package kuberneteslogs

import (
	"testing"

	"github.com/drover-dev/drover/internal/kubetest/podlogs"
	"github.com/drover-dev/drover/internal/status"
)

// Every container of the node's pods is a pod_container target of the
// status, with the names an operator looks it up by, shipped once its
// lines are acknowledged.
func TestDescribeListsPodContainers(t *testing.T) {
	c := newCluster(t)
	pod, ws := c.pod("shop", "front", podlogs.CRI, "nginx", "sidecar")
	r := c.run(t, nil)
	must(t, ws[0].WriteLine("stdout", "served"))
	waitFor(t, "the line", func() bool { return len(r.rec.find("served")) == 1 })
	var _ status.Describer = r.src
	var ts []status.Target
	waitFor(t, "both containers shipped", func() bool {
		ts = r.src.Describe().Targets
		n := 0
		for _, tg := range ts {
			if tg.Shipped() && tg.Acknowledged > 0 {
				n++
			}
		}
		return len(ts) == 2 && n >= 1
	})
	seen := map[string]bool{}
	for _, tg := range ts {
		l := tg.Labels
		if tg.Kind != status.TargetPod || l["namespace"] != "shop" || l["pod"] != "front" || l["pod_uid"] != string(pod.UID) ||
			tg.Key != string(pod.UID)+"/"+l["container"] {
			t.Errorf("target %+v", tg)
		}
		seen[l["container"]] = true
	}
	if !seen["nginx"] || !seen["sidecar"] {
		t.Errorf("containers %v, want nginx and sidecar", seen)
	}
}
