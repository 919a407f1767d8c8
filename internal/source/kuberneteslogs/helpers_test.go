package kuberneteslogs

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/discovery/kubernetes"
	"github.com/drover-dev/drover/internal/event"
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

// got is one event as the sink would see it.
type got struct {
	msg   string
	ts    time.Time
	flags event.Flags
	json  string // the metadata
	e     event.Event
}

func (g got) field(path string) string {
	v, ok := g.e.Get(path)
	if !ok {
		return ""
	}
	if v.Kind() == event.KindInt {
		return fmt.Sprint(v.Int())
	}
	return v.Str()
}

// recorder is the source's output: it keeps every event and acknowledges
// every batch.
type recorder struct {
	mu   sync.Mutex
	evs  []got
	gate chan struct{} // when set, Emit waits until it is closed
}

func (r *recorder) Emit(ctx context.Context, b *event.Batch) error {
	r.mu.Lock()
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range b.Events {
		e.Message = append([]byte(nil), e.Message...)
		r.evs = append(r.evs, got{msg: string(e.Message), ts: e.Timestamp, flags: e.Flags, json: string(e.Meta.JSONMembers()), e: e})
	}
	b.Ack.Retain(1)
	go b.Ack.Release(event.Delivered)
	return nil
}

func (r *recorder) all() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]got(nil), r.evs...)
}

// find returns the events whose message starts with prefix.
func (r *recorder) find(prefix string) []got {
	var out []got
	for _, g := range r.all() {
		if strings.HasPrefix(g.msg, prefix) {
			out = append(out, g)
		}
	}
	return out
}

// running is a source running into a recorder.
type running struct {
	src    *Source
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
}

func (c *cluster) run(t *testing.T, cfg *Config) *running {
	return c.runInto(t, cfg, &recorder{})
}

func (c *cluster) runInto(t *testing.T, cfg *Config, rec *recorder) *running {
	if cfg == nil {
		cfg = c.config()
	}
	r := &running{src: c.newSource(t, nil, cfg), rec: rec, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.src.Run(ctx, r.rec) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends Run and closes the source (once).
func (r *running) stop(t *testing.T) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.src.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// appendRaw appends bytes to a file as another writer would.
func appendRaw(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}
