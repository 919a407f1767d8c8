package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/drover-dev/drover/internal/kubetest"
	"github.com/drover-dev/drover/internal/kubetest/podlogs"
	"github.com/drover-dev/drover/internal/status"
)

// TestExplainPod runs drover with the kubernetes_logs source over the
// test API and a pod's log files: the pod's container is a pod_container
// target of /api/v1/status, and `drover explain` finds it by
// namespace/pod, by pod name and by UID, shipped (exit 0) once the sink
// has its line.
func TestExplainPod(t *testing.T) {
	api := kubetest.New(kubetest.Options{BookmarkInterval: 500 * time.Millisecond})
	t.Cleanup(api.Close)
	api.CreateNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	base := t.TempDir()
	root := filepath.Join(base, "pods")
	kubeconfig := filepath.Join(base, "kubeconfig")
	if err := api.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	const uid = "uid-front-1"
	api.CreatePod(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "front", UID: types.UID(uid)},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	})
	w := &podlogs.Container{Root: root, Namespace: "shop", Pod: "front", UID: uid, Name: "nginx", Now: newStepClock()}
	if err := w.WriteLine("stdout", "GET / 200"); err != nil {
		t.Fatal(err)
	}
	recv := newReceiver(t)
	cfg := writeConfig(t, base, fmt.Sprintf(`
data_dir = %q
admin { address = "127.0.0.1:0" }

source "kubernetes_logs" "pods" {
  node_name     = "node-1"
  kubeconfig    = %q
  pod_logs_dir  = %q
  scan_interval = "200ms"
}

sink "http" "out" {
  inputs   = ["pods"]
  uri      = %q
  encoding = "ndjson"
  batch {
    timeout = "100ms"
  }
}
`, filepath.Join(base, "data"), kubeconfig, root, recv.url()))
	d := startDrover(t, cfg)
	o := &observed{d: d}

	out, _, code := o.cli(t, "explain", "--wait", "60s", "shop/front")
	if code != 0 || !strings.Contains(out, "pod shop/front container nginx") || !strings.Contains(out, "source:            pods (kubernetes_logs)") ||
		!strings.Contains(out, "verdict:           shipped") || !strings.Contains(out, "sink:              out (http) ok") {
		t.Fatalf("explain shop/front: exit %d\n%s", code, out)
	}
	for _, what := range []string{"front", uid} {
		if out, _, code := o.cli(t, "explain", what); code != 0 || !strings.Contains(out, "pod shop/front container nginx") {
			t.Errorf("explain %s: exit %d\n%s", what, code, out)
		}
	}
	if out, _, code := o.cli(t, "explain", "shop/back"); code != 1 || !strings.Contains(out, "no source of this drover") {
		t.Errorf("explain of a pod that is not on the node: exit %d\n%s", code, out)
	}
	st := o.status(t)
	tg, ok := target(st, "pod", "front", "container", "nginx")
	if !ok || tg.Kind != status.TargetPod || tg.Component != "pods" || tg.Labels["namespace"] != "shop" || tg.Labels["pod_uid"] != uid ||
		tg.Key != uid+"/nginx" || !tg.Shipped() || tg.LastAcknowledged.IsZero() {
		t.Errorf("the pod's target: %+v", tg)
	}
}
