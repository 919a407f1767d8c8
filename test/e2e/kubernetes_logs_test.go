package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/drover-dev/drover/internal/kubetest"
	"github.com/drover-dev/drover/internal/kubetest/podlogs"
)

// TestKubernetesLogsToKafka is the Fluentd-DaemonSet replacement end to
// end: drover on one node of a cluster (the API is kubetest's list/watch
// server, the kubelet's files are written by podlogs exactly as containerd
// and the kubelet write them) ships every container's lines to a Kafka
// topic per namespace (kfake), kube-system filtered out. In three
// namespaces, pods are created, write while the kubelet rotates their
// files, and are deleted (their directories removed three seconds later,
// as the kubelet's cleanup does); drover is killed with SIGKILL in the
// middle and started again. Every line must arrive in its namespace's
// topic with its own pod's metadata: lost=0 and mislabeled=0.
func TestKubernetesLogsToKafka(t *testing.T) {
	namespaces := []string{"shop", "billing", "ops"}
	topics := []string{"logs-shop", "logs-billing", "logs-ops", "logs-kube-system", "logs-other"}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	reader := newTopicsReader(t, kc.ListenAddrs(), topics)

	api := kubetest.New(kubetest.Options{BookmarkInterval: 500 * time.Millisecond})
	t.Cleanup(api.Close)
	for _, ns := range append(namespaces, "kube-system") {
		api.CreateNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": ns}}})
	}
	base := t.TempDir()
	root := filepath.Join(base, "pods")
	kubeconfig := filepath.Join(base, "kubeconfig")
	if err := api.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, base, fmt.Sprintf(`
data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }
log { level = "debug" }

source "kubernetes_logs" "pods" {
  node_name        = "node-1"
  kubeconfig       = %q
  pod_logs_dir     = %q
  scan_interval    = "200ms"
  unknown_pod_wait = "1s"
  exclude { namespaces = ["kube-system"] }
}

sink "kafka" "out" {
  inputs                = ["pods"]
  brokers               = [%q]
  topic                 = "logs-{{ kubernetes.namespace }}"
  default_topic         = "logs-other"
  key                   = "{{ kubernetes.pod_uid }}"
  delivery_timeout      = "2s"
  retry_initial_backoff = "50ms"
  retry_max_backoff     = "500ms"
}
`, filepath.Join(base, "data"), kubeconfig, root, kc.ListenAddrs()[0]))

	d := startDrover(t, cfg)

	// The cluster's workload: per namespace, generations of two pods each
	// writing, with rotations, then deleted.
	var (
		mu   sync.Mutex
		want = map[string]origin{} // line -> where it was written
	)
	const generations, linesPerPod = 6, 300
	var wg sync.WaitGroup
	var removals sync.WaitGroup
	for _, ns := range append(namespaces, "kube-system") {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for gen := range generations {
				var ws []*podlogs.Container
				for p := range 2 {
					name := fmt.Sprintf("%s-app-%d-%d", ns, gen, p)
					uid := fmt.Sprintf("uid-%s", name)
					api.CreatePod(&corev1.Pod{
						ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), Labels: map[string]string{"app": "app"}},
						Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "main", Image: "registry/app:1"}}},
						Status:     corev1.PodStatus{Phase: corev1.PodRunning},
					})
					ws = append(ws, &podlogs.Container{Root: root, Namespace: ns, Pod: name, UID: uid, Name: "main", Now: newStepClock()})
				}
				for i := range linesPerPod {
					for _, w := range ws {
						line := fmt.Sprintf("%s|%s|%s|%04d", w.Namespace, w.Pod, w.UID, i)
						if i%50 == 49 {
							line += " " + strings.Repeat("x", 20000) // split by containerd into a P and an F record
						}
						if err := w.WriteLine("stdout", line); err != nil {
							t.Error(err)
							return
						}
						if ns != "kube-system" {
							mu.Lock()
							want[line] = origin{ns: w.Namespace, pod: w.Pod, uid: w.UID}
							mu.Unlock()
						}
					}
					if i%100 == 99 {
						for _, w := range ws {
							if err := w.Rotate(); err != nil {
								t.Error(err)
								return
							}
						}
					}
					if i%10 == 0 {
						time.Sleep(20 * time.Millisecond)
					}
				}
				for _, w := range ws {
					_ = w.Stop()
					api.DeletePod(ns, w.Pod)
					removals.Add(1)
					time.AfterFunc(3*time.Second, func() {
						defer removals.Done()
						_ = w.RemovePod()
					})
				}
			}
		}()
	}

	// Kill -9 in the middle of the workload, and start again.
	waitUntil(t, 30*time.Second, "the first records", func() bool { return len(reader.snapshot()) > 2000 })
	workload := make(chan struct{})
	go func() { wg.Wait(); close(workload) }()
	select {
	case <-workload:
		t.Fatal("the workload ended before the kill")
	default:
	}
	killedAfter := len(reader.snapshot())
	d.kill()
	time.Sleep(200 * time.Millisecond)
	d = startDrover(t, cfg)
	<-workload
	removals.Wait()

	mu.Lock()
	expected := len(want)
	mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for !reader.hasAll(want) {
		if time.Now().After(deadline) {
			missing := reader.missing(want)
			t.Fatalf("timed out waiting for every line in Kafka: %d of %d missing, e.g. %.100q", len(missing), len(want), missing[:min(5, len(missing))])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}

	recs := reader.snapshot()
	lost, mislabeled, dups, excluded := 0, 0, 0, 0
	seen := map[string]int{}
	for _, r := range recs {
		if strings.HasPrefix(r.msg, "kube-system|") {
			excluded++
			continue
		}
		o, ok := want[r.msg]
		if !ok {
			mislabeled++
			t.Errorf("a record nobody wrote: %.80q", r.msg)
			continue
		}
		seen[r.msg]++
		if r.topic != "logs-"+o.ns || r.ns != o.ns || r.pod != o.pod || r.uid != o.uid || r.container != "main" || r.stream != "stdout" {
			mislabeled++
			if mislabeled <= 5 {
				t.Errorf("%.60q in topic %s with namespace %q pod %q uid %q container %q stream %q", r.msg, r.topic, r.ns, r.pod, r.uid, r.container, r.stream)
			}
		}
	}
	for line := range want {
		switch n := seen[line]; {
		case n == 0:
			lost++
		case n > 1:
			dups += n - 1
		}
	}
	pathMeta := 0
	for _, r := range recs {
		if r.pathMeta {
			pathMeta++
		}
	}
	t.Logf("killed with SIGKILL after %d records", killedAfter)
	t.Logf("kubernetes_logs -> kafka: lines=%d received=%d lost=%d mislabeled=%d duplicates=%d (at least once across the kill -9) excluded_kube_system=%d path_metadata=%d",
		expected, len(recs), lost, mislabeled, dups, excluded, pathMeta)
	fmt.Printf("kubernetes e2e: lost=%d mislabeled=%d duplicates=%d lines=%d\n", lost, mislabeled, dups, expected)
	if lost != 0 || mislabeled != 0 || excluded != 0 {
		t.Fatalf("lost=%d mislabeled=%d kube-system records=%d", lost, mislabeled, excluded)
	}
}

type origin struct{ ns, pod, uid string }

// kubeRecord is what a record of the Kubernetes scenario says.
type kubeRecord struct {
	topic, msg, ns, pod, uid, container, stream string
	pathMeta                                    bool
}

// topicsReader consumes topics from their start in the background.
type topicsReader struct {
	mu     sync.Mutex
	recs   []kubeRecord
	counts map[string]int
}

func newTopicsReader(t *testing.T, brokers []string, topics []string) *topicsReader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DisableClientMetrics(),
		kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &topicsReader{counts: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
				var v struct {
					Message    string `json:"message"`
					Stream     string `json:"stream"`
					Kubernetes struct {
						Namespace     string            `json:"namespace"`
						PodName       string            `json:"pod_name"`
						PodUID        string            `json:"pod_uid"`
						ContainerName string            `json:"container_name"`
						Image         string            `json:"container_image"`
						Labels        map[string]string `json:"labels"`
					} `json:"kubernetes"`
				}
				if err := json.Unmarshal(rec.Value, &v); err != nil {
					t.Errorf("record value %.200q: %v", rec.Value, err)
				}
				k := v.Kubernetes
				r.mu.Lock()
				r.recs = append(r.recs, kubeRecord{topic: rec.Topic, msg: v.Message, ns: k.Namespace, pod: k.PodName, uid: k.PodUID,
					container: k.ContainerName, stream: v.Stream, pathMeta: k.Image == ""})
				r.counts[v.Message]++
				r.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return r
}

func (r *topicsReader) hasAll(want map[string]origin) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for m := range want {
		if r.counts[m] == 0 {
			return false
		}
	}
	return true
}

func (r *topicsReader) missing(want map[string]origin) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for m := range want {
		if r.counts[m] == 0 {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

func (r *topicsReader) snapshot() []kubeRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]kubeRecord(nil), r.recs...)
}

// newStepClock is a clock for a kubelet that rotates more than once a
// second: it advances one second at every reading.
func newStepClock() func() time.Time {
	var mu sync.Mutex
	now := time.Now().UTC()
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}
