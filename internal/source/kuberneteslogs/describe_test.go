package kuberneteslogs

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

// Containers the selection or an annotation leaves out are listed as
// excluded, with the rule.
func TestDescribeListsExcludedContainersWithTheirRule(t *testing.T) {
	c := newCluster(t)
	pod, ws := c.pod("shop", "front", podlogs.CRI, "nginx", "istio-proxy")
	annotated := c.srv.CreatePod(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "batch", UID: "uid-shop-batch",
			Annotations: map[string]string{"drover.io/exclude.noisy": "true"}},
		Spec: corev1.PodSpec{NodeName: testNode, Containers: []corev1.Container{{Name: "work"}, {Name: "noisy"}}},
	})
	cfg := c.config()
	cfg.Exclude.Containers = []string{"istio-*"}
	r := c.run(t, cfg)
	must(t, ws[0].WriteLine("stdout", "served"))
	waitFor(t, "the line", func() bool { return len(r.rec.find("served")) == 1 })
	want := map[string]string{
		string(pod.UID) + "/istio-proxy": `exclude.containers "istio-*"`,
		string(annotated.UID) + "/noisy": `annotation drover.io/exclude.noisy = "true"`,
	}
	var got map[string]status.Target
	waitFor(t, "the excluded containers", func() bool {
		got = map[string]status.Target{}
		for _, tg := range r.src.Describe().Targets {
			if tg.State == status.StateExcluded {
				got[tg.Key] = tg
			}
		}
		return len(got) == len(want)
	})
	for key, rule := range want {
		tg, ok := got[key]
		if !ok || tg.Kind != status.TargetPod || tg.Reason != rule || tg.Labels["namespace"] != "shop" ||
			tg.Labels["container"] != key[strings.IndexByte(key, '/')+1:] || tg.Shipped() {
			t.Errorf("excluded %s: %+v, want the rule %s", key, tg, rule)
		}
	}
}
