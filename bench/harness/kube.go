package harness

import (
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/drover-dev/drover/bench/gen"
	"github.com/drover-dev/drover/internal/kubetest"
)

// kubeNode is the node name of the Kubernetes scenarios.
const kubeNode = "bench-node"

// servePods starts the test Kubernetes API (internal/kubetest) with one
// running pod per stream of the layout on kubeNode, each labelled
// alloc_id=<uid> so that the receiver finds its stream's ID in every
// event, and writes a kubeconfig for it. It returns the kubeconfig's path
// and a function that stops the server.
func servePods(dir string, l *gen.Layout) (kubeconfig string, stop func(), err error) {
	srv := kubetest.New(kubetest.Options{})
	for _, a := range l.Allocs {
		srv.CreatePod(&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Job, UID: types.UID(a.ID),
				Labels: map[string]string{"app": "svc", "alloc_id": a.ID}},
			Spec: corev1.PodSpec{NodeName: kubeNode,
				Containers: []corev1.Container{{Name: gen.Container, Image: "registry.example/svc:1.4.2"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		})
	}
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := srv.WriteKubeconfig(kubeconfig); err != nil {
		srv.Close()
		return "", nil, err
	}
	return kubeconfig, srv.Close, nil
}

// kubeSource is the kubernetes_logs source block of the Kubernetes
// scenarios: its defaults, this node, the layout's pod directory.
func kubeSource(kubeconfig, podsDir string) string {
	return fmt.Sprintf(`
source "kubernetes_logs" "tasks" {
  node_name    = %q
  kubeconfig   = %q
  pod_logs_dir = %q
}
`, kubeNode, kubeconfig, podsDir)
}
