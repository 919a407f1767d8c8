package kuberneteslogs

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/discovery/kubernetes"
	"github.com/drover-dev/drover/internal/kubetest"
	"github.com/drover-dev/drover/internal/kubetest/podlogs"
	"github.com/drover-dev/drover/internal/metrics"
)

const testNode = "node-1"

// cluster is a node of a test cluster: the API (kubetest.Server), the
// kubelet's pod log directory written by podlogs, and a data directory.
type cluster struct {
	t       *testing.T
	srv     *kubetest.Server
	root    string // /var/log/pods
	docker  string // /var/lib/docker/containers
	dataDir string
	logs    *logBuffer
	clock   *stepClock
	mutate  func(*Config)
}

func newCluster(t *testing.T) *cluster {
	srv := kubetest.New(kubetest.Options{})
	t.Cleanup(srv.Close)
	return &cluster{t: t, srv: srv, root: t.TempDir(), docker: t.TempDir(), dataDir: t.TempDir(),
		logs: &logBuffer{}, clock: &stepClock{t: time.Date(2026, 12, 7, 17, 20, 0, 0, time.UTC)}}
}

// config is a configuration that looks often.
func (c *cluster) config() *Config {
	cfg := NewConfig()
	cfg.NodeName = testNode
	cfg.PodLogsDir = c.root
	cfg.ScanInterval = 100 * time.Millisecond
	cfg.UnknownPodWait = 200 * time.Millisecond
	cfg.FileScanInterval = 20 * time.Millisecond
	cfg.CheckpointInterval = 20 * time.Millisecond
	cfg.TerminalIdle = 50 * time.Millisecond
	cfg.PartialLineTimeout = 500 * time.Millisecond
	if c.mutate != nil {
		c.mutate(cfg)
	}
	return cfg
}

func (c *cluster) newSource(t *testing.T, m *metrics.Component, cfg *Config) *Source {
	client, err := kubernetes.NewClient(c.srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	if m == nil {
		m = metrics.New().Component("source", kubernetes.SourceType, "pods")
	}
	src, err := NewWith(component.Context{
		Kind: "source", Type: kubernetes.SourceType, ID: "pods", DataDir: c.dataDir, Host: "test-host",
		Logger:  slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: m,
	}, cfg, Options{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// pod creates a pod in the API and its containers' writers.
func (c *cluster) pod(ns, name string, rt podlogs.Runtime, containers ...string) (*corev1.Pod, []*podlogs.Container) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(fmt.Sprintf("uid-%s-%s", ns, name)),
			Labels: map[string]string{"app": name}},
		Spec:   corev1.PodSpec{NodeName: testNode},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, cn := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: cn, Image: "registry/" + cn + ":1"})
	}
	p = c.srv.CreatePod(p)
	var ws []*podlogs.Container
	for _, cn := range containers {
		w := &podlogs.Container{Root: c.root, DockerRoot: c.docker, Namespace: ns, Pod: name, UID: string(p.UID),
			Name: cn, Runtime: rt, Now: c.clock.Now}
		if err := w.Start(); err != nil {
			c.t.Fatal(err)
		}
		ws = append(ws, w)
	}
	return p, ws
}

// stepClock advances one second at every reading, so that the kubelet's
// rotations (named by the second) never collide.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// logBuffer collects the source's logs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
