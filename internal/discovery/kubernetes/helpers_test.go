package kubernetes

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
)

const testNode = "n1"

// harness runs a Discoverer and collects what it sends.
type harness struct {
	t      *testing.T
	d      *Discoverer
	m      *Metrics
	health *health.Reporter
	up     chan []discovery.Group
	cancel context.CancelFunc
	done   chan struct{}
	root   string
}

// start runs a discoverer whose first full set waits up to 10 s for the
// first list (tests see the API's pods in it however loaded the machine).
func start(t *testing.T, c Client, mutate func(*Config)) *harness {
	t.Helper()
	return startWaiting(t, c, mutate, 10*time.Second)
}

// startWaiting runs a discoverer whose first full set waits up to syncWait
// for the first list.
func startWaiting(t *testing.T, c Client, mutate func(*Config), syncWait time.Duration) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeName = testNode
	cfg.PodLogsDir = t.TempDir()
	cfg.ScanInterval = 100 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	h := &harness{t: t, m: testMetrics(), health: health.NewReporter("source", SourceType, "k8s", time.Now),
		up: make(chan []discovery.Group), done: make(chan struct{}), root: cfg.PodLogsDir}
	d, err := New(Options{Config: cfg, SourceID: "k8s", Client: c, Metrics: h.m, Health: h.health,
		InitialSyncWait: syncWait})
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		if err := d.Run(ctx, h.up); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Error("Run did not return")
	}
}

// next returns the next send.
func (h *harness) next() []discovery.Group {
	h.t.Helper()
	select {
	case gs := <-h.up:
		return gs
	case <-time.After(30 * time.Second):
		h.t.Fatal("no groups sent")
	}
	return nil
}

// group reads sends until one holds a group of key, and returns it.
func (h *harness) group(key string) discovery.Group {
	h.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case gs := <-h.up:
			for _, g := range gs {
				if g.Key == key {
					return g
				}
			}
		case <-deadline:
			h.t.Fatalf("no group %s sent", key)
		}
	}
}

func metaJSON(m *event.Meta) string {
	if m == nil {
		return "<nil>"
	}
	return string(m.Fields.AppendJSON(nil))
}

func targetKeys(g discovery.Group) string {
	var ks []string
	for _, t := range g.Targets {
		ks = append(ks, t.Key)
	}
	return strings.Join(ks, ",")
}

func target(t *testing.T, g discovery.Group, key string) discovery.Target {
	t.Helper()
	i := slices.IndexFunc(g.Targets, func(x discovery.Target) bool { return x.Key == key })
	if i < 0 {
		t.Fatalf("no target %s in %s", key, targetKeys(g))
	}
	return g.Targets[i]
}

func newPod(ns, name, uid string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{NodeName: testNode},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "registry/" + c + ":1"})
	}
	return p
}

func newNamespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}
