package kubernetes

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/kubetest"
)

// heavyPod is a pod as the API serves it in a real cluster: managed
// fields, environment, volumes, probes, conditions (about 6 KB of JSON).
func heavyPod(i int) *corev1.Pod {
	p := newPod("apps", fmt.Sprintf("web-%d", i), fmt.Sprintf("uid-%06d", i), "app", "sidecar")
	p.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 1500)}
	p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: "Update",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{` + strings.Repeat(`"k:{\"name\":\"x\"}":{},`, 40) + `"x":{}}}}`)}}}
	for c := range p.Spec.Containers {
		for e := range 20 {
			p.Spec.Containers[c].Env = append(p.Spec.Containers[c].Env, corev1.EnvVar{Name: fmt.Sprintf("ENV_%d", e), Value: "some-value"})
		}
		p.Spec.Containers[c].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "token", MountPath: "/var/run/secrets"}}
	}
	p.Spec.Volumes = []corev1.Volume{{Name: "data"}, {Name: "token"}}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	return p
}

// TestSlimPod: the informer's cache keeps what discovery reads, not the
// rest of the pod.
func TestSlimPod(t *testing.T) {
	p := heavyPod(1)
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://x", RestartCount: 1, Ready: true}}
	p.Annotations[AnnotationParser] = "json"
	s := slimPod(p, (&Discoverer{}).keepAnnotation)
	if s.ManagedFields != nil || s.Spec.Volumes != nil || s.Spec.Containers[0].Env != nil || s.Status.Conditions != nil ||
		len(s.Annotations) != 1 {
		t.Fatalf("not slimmed: %+v", s)
	}
	if OwnerOf(s) != OwnerOf(p) || dirUID(s) != dirUID(p) || s.Spec.Containers[1].Image != "registry/sidecar:1" ||
		s.Status.ContainerStatuses[0].RestartCount != 1 || s.Annotations[AnnotationParser] != "json" {
		t.Fatalf("lost what discovery reads: %+v", s)
	}
}

// BenchmarkThousandsOfPods starts discovery against an API server with
// 3000 heavy pods on the node and reports the time to the full set and the
// heap that the discoverer and its informers hold per pod.
func BenchmarkThousandsOfPods(b *testing.B) {
	const pods = 3000
	s := kubetest.New(kubetest.Options{})
	defer s.Close()
	for i := range pods {
		s.CreatePod(heavyPod(i))
	}
	c := serverClient(b, s)
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		cfg := DefaultConfig()
		cfg.NodeName, cfg.PodLogsDir = testNode, b.TempDir()
		d, err := New(Options{Config: cfg, Client: c, SourceID: "k8s", InitialSyncWait: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		up := make(chan []discovery.Group, 1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		start := time.Now()
		go func() { defer close(done); _ = d.Run(ctx, up) }()
		full := <-up
		took := time.Since(start)
		if len(full) != pods {
			b.Fatalf("%d groups", len(full))
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/pods, "heap-B/pod")
		b.ReportMetric(took.Seconds(), "s-to-full-set")
		runtime.KeepAlive(full)
		cancel()
		<-done
	}
}
