package kuberneteslogs

import (
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/kubetest/podlogs"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/source/sourcetest"
)

// The kubernetes_logs source runs the source conformance suite over two
// pods of two containers each: one pod on containerd (CRI lines, rotated
// by the kubelet), one on docker (json-file behind cri-dockerd's symlink,
// rotated by docker).
func TestConformance(t *testing.T) {
	sourcetest.Run(t, sourcetest.Harness{NewWorld: newKubeWorld})
}

type kubeWorld struct {
	c       *cluster
	ws      []*podlogs.Container
	uids    []string
	gone    map[string]bool
	maxOpen int
}

func newKubeWorld(t *testing.T) sourcetest.World {
	c := newCluster(t)
	w := &kubeWorld{c: c, gone: map[string]bool{}}
	for _, p := range []struct {
		name string
		rt   podlogs.Runtime
	}{{"cri", podlogs.CRI}, {"docker", podlogs.Docker}} {
		pod, ws := c.pod("apps", p.name, p.rt, "app", "web")
		w.ws = append(w.ws, ws...)
		w.uids = append(w.uids, string(pod.UID), string(pod.UID))
	}
	return w
}

func (w *kubeWorld) Streams() int { return len(w.ws) }

func (w *kubeWorld) NewSource(t *testing.T, m *metrics.Component) component.Source {
	cfg := w.c.config()
	cfg.MaxOpenFiles = w.maxOpen
	return w.c.newSource(t, m, cfg)
}

func (w *kubeWorld) Append(t *testing.T, s int, recs []string) {
	if err := w.ws[s].Write("stdout", []byte(strings.Join(recs, "\n")+"\n")); err != nil {
		t.Fatal(err)
	}
}

func (w *kubeWorld) Record(e *event.Event) (int, string, bool) {
	uid, _ := e.Get("kubernetes.pod_uid")
	name, _ := e.Get("kubernetes.container_name")
	stream, _ := e.Get("stream")
	if stream.Str() != "stdout" {
		return 0, "", false
	}
	for i, c := range w.ws {
		if w.uids[i] == uid.Str() && c.Name == name.Str() {
			return i, string(e.Message), true
		}
	}
	return 0, "", false
}

func (w *kubeWorld) Files() *sourcetest.Files {
	return &sourcetest.Files{
		Rotations: []sourcetest.Rotation{
			// The kubelet renames the live file and compresses the rotated
			// one at the next rotation; docker renames and creates. A file
			// compressed before drover opened it is out of reach.
			{Name: "runtime", Rotate: func(t *testing.T, s int) {
				if err := w.ws[s].Rotate(); err != nil {
					t.Fatal(err)
				}
			}, ReadFirst: true},
		},
		Delete: func(t *testing.T, s int) {
			// The pod is deleted: the kubelet removes its directory.
			c := w.ws[s]
			if w.gone[c.Pod] {
				return
			}
			w.gone[c.Pod] = true
			w.c.srv.DeletePod(c.Namespace, c.Pod)
			if err := c.RemovePod(); err != nil {
				t.Fatal(err)
			}
		},
		SetMaxOpenFiles: func(n int) { w.maxOpen = n },
	}
}
