package kuberneteslogs

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/drover-dev/drover/internal/kubetest/podlogs"
)

// A pod deleted, and its directory removed by the kubelet, before its
// lines were read (the sink was blocked): every line arrives, with the
// pod's metadata.
func TestPodDeletedBeforeItsFilesAreRead(t *testing.T) {
	c := newCluster(t)
	rec := &recorder{gate: make(chan struct{})}
	r := c.runInto(t, nil, rec)
	defer dumpLogs(t, c)
	pod, ws := c.pod("batch", "job-1", podlogs.CRI, "main")
	for i := range 50 {
		must(t, ws[0].WriteLine("stdout", fmt.Sprintf("job line %d", i)))
	}
	path := ws[0].Path()
	// (The writer holds the file open too: the source's log says when it
	// opened it.)
	waitFor(t, "the source to open the file", func() bool {
		return strings.Contains(c.logs.String(), "following container log file") && strings.Contains(c.logs.String(), path)
	})
	c.srv.DeletePod("batch", "job-1")
	must(t, ws[0].RemovePod())
	time.Sleep(300 * time.Millisecond) // let the deletion reach the source before the sink takes anything
	close(rec.gate)
	waitFor(t, "the job's lines", func() bool { return len(r.rec.find("job line ")) == 50 })
	for _, g := range r.rec.find("job line ") {
		if g.field("kubernetes.pod_uid") != string(pod.UID) || g.field("kubernetes.container_image") != "registry/main:1" {
			t.Fatalf("line %q has metadata %s", g.msg, g.json)
		}
	}
}

// A pod the API never showed (it ran and was deleted between two
// watches): its lines are shipped with what the path tells, counted with
// the reason unknown_pod.
func TestPodTheAPINeverShowed(t *testing.T) {
	c := newCluster(t)
	r := c.run(t, nil)
	w := &podlogs.Container{Root: c.root, Namespace: "batch", Pod: "ghost", UID: "uid-ghost", Name: "main", Now: c.clock.Now}
	must(t, w.WriteLine("stdout", "from a ghost"))
	waitFor(t, "the ghost's line", func() bool { return len(r.rec.find("from a ghost")) == 1 })
	g := r.rec.find("from a ghost")[0]
	for path, want := range map[string]string{
		"kubernetes.namespace": "batch", "kubernetes.pod_name": "ghost", "kubernetes.pod_uid": "uid-ghost",
		"kubernetes.container_name": "main", "kubernetes.node_name": testNode,
	} {
		if got := g.field(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if !strings.Contains(c.logs.String(), "unknown_pod") {
		t.Errorf("the reason is not logged:\n%s", c.logs.String())
	}
}

// drover.io/exclude on a pod leaves its logs unread; its ".<container>"
// form applies to one container. The owner is the workload, through the
// ReplicaSet to its Deployment; parser and multiline hints are carried.
func TestAnnotationsAndOwner(t *testing.T) {
	c := newCluster(t)
	r := c.run(t, nil)
	excluded := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "noisy", UID: "uid-noisy",
			Annotations: map[string]string{"drover.io/exclude": "true"}},
		Spec: corev1.PodSpec{NodeName: testNode, Containers: []corev1.Container{{Name: "app", Image: "i"}}},
	}
	c.srv.CreatePod(excluded)
	ctrl := true
	api := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "api-7d9f8c6b5-x2x4z", UID: "uid-api",
			Labels:          map[string]string{"pod-template-hash": "7d9f8c6b5"},
			Annotations:     map[string]string{"drover.io/exclude.sidecar": "true", "drover.io/parser": "json", "drover.io/multiline.app": "java"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "api-7d9f8c6b5", UID: "rs", Controller: &ctrl}}},
		Spec: corev1.PodSpec{NodeName: testNode, Containers: []corev1.Container{{Name: "app", Image: "i"}, {Name: "sidecar", Image: "s"}}},
	}
	c.srv.CreatePod(api)
	var ws []*podlogs.Container
	for _, p := range []struct{ pod, uid, name string }{
		{"noisy", "uid-noisy", "app"}, {"api-7d9f8c6b5-x2x4z", "uid-api", "app"}, {"api-7d9f8c6b5-x2x4z", "uid-api", "sidecar"},
	} {
		w := &podlogs.Container{Root: c.root, Namespace: "apps", Pod: p.pod, UID: p.uid, Name: p.name, Now: c.clock.Now}
		must(t, w.WriteLine("stdout", p.pod+"/"+p.name))
		ws = append(ws, w)
	}
	waitFor(t, "the app's line", func() bool { return len(r.rec.find("api-7d9f8c6b5-x2x4z/app")) == 1 })
	must(t, ws[1].WriteLine("stdout", "marker"))
	waitFor(t, "the marker", func() bool { return len(r.rec.find("marker")) == 1 })
	if n := len(r.rec.find("noisy/")) + len(r.rec.find("api-7d9f8c6b5-x2x4z/sidecar")); n != 0 {
		t.Errorf("%d lines of excluded containers shipped", n)
	}
	g := r.rec.find("api-7d9f8c6b5-x2x4z/app")[0]
	for path, want := range map[string]string{
		"kubernetes.owner_kind": "Deployment", "kubernetes.owner_name": "api",
	} {
		if got := g.field(path); got != want {
			t.Errorf("%s = %q, want %q (%s)", path, got, want, g.json)
		}
	}
	hints, _ := g.e.Get("kubernetes.hints")
	if p, _ := hints.Object().Lookup("drover.parser"); p.Str() != "json" {
		t.Errorf("parser hint %q (%s)", p.Str(), g.json)
	}
	if m, _ := hints.Object().Lookup("drover.multiline"); m.Str() != "java" {
		t.Errorf("multiline hint %q (%s)", m.Str(), g.json)
	}
}

// A container that restarts writes <restart+1>.log: its lines follow the
// previous container's, with the restart count of the status.
func TestContainerRestart(t *testing.T) {
	c := newCluster(t)
	_, ws := c.pod("apps", "crashy", podlogs.CRI, "app")
	r := c.run(t, nil)
	must(t, ws[0].WriteLine("stdout", "first life"))
	waitFor(t, "the first life", func() bool { return len(r.rec.find("first life")) == 1 })
	must(t, ws[0].RestartContainer())
	must(t, ws[0].WriteLine("stdout", "second life"))
	must(t, ws[0].RestartContainer())
	must(t, ws[0].WriteLine("stdout", "third life"))
	waitFor(t, "the third life", func() bool { return len(r.rec.find("third life")) == 1 })
	if n := len(r.rec.find("second life")); n != 1 {
		t.Fatalf("second life: %d lines", n)
	}
}

// After a restart of drover, a container resumes in the file of its
// position wherever the kubelet renamed it. When that file was compressed
// while drover was down with lines drover had not read, compressed =
// "read" reads them from the .gz (found by its head); "skip" reports the
// loss. Either way the container goes on with the files after it, and
// nothing delivered before comes again.
func TestResumeAcrossRotationsWhileDown(t *testing.T) {
	for _, mode := range []string{"read", "skip"} {
		t.Run(mode, func(t *testing.T) {
			c := newCluster(t)
			defer dumpLogs(t, c)
			c.mutate = func(cfg *Config) { cfg.Compressed = mode }
			_, ws := c.pod("apps", "api", podlogs.CRI, "app")
			w := ws[0]
			r := c.run(t, nil)
			must(t, w.WriteLine("stdout", "before stop"))
			waitFor(t, "the first line", func() bool { return len(r.rec.find("before stop")) == 1 })
			r.stop(t)

			// Rotated once while down: the position's file is renamed.
			must(t, w.WriteLine("stdout", "written while down 1"))
			must(t, w.Rotate())
			must(t, w.WriteLine("stdout", "written while down 2"))
			r = c.run(t, nil)
			waitFor(t, "the lines written while down", func() bool { return len(r.rec.find("written while down")) == 2 })
			if n := len(r.rec.find("before stop")); n != 0 {
				t.Fatalf("a line delivered before the stop came again (%d)", n)
			}
			r.stop(t)

			// Rotated twice while down: the position's file is compressed
			// (deleted) with a line drover had not read.
			must(t, w.WriteLine("stdout", "unread then compressed"))
			must(t, w.Rotate())
			must(t, w.WriteLine("stdout", "in the newest rotated file"))
			must(t, w.Rotate())
			must(t, w.WriteLine("stdout", "in the live file"))
			gz, _ := filepath.Glob(filepath.Join(w.Dir(), "*.gz"))
			if len(gz) == 0 {
				t.Fatal("the kubelet compressed nothing")
			}
			r = c.run(t, nil)
			waitFor(t, "the live file's line", func() bool { return len(r.rec.find("in the live file")) == 1 })
			if n := len(r.rec.find("in the newest rotated file")); n != 1 {
				t.Errorf("the newest rotated file's line came %d times", n)
			}
			if n := len(r.rec.find("written while down")); n != 0 {
				t.Errorf("%d lines delivered before came again", n)
			}
			reported := strings.Contains(c.logs.String(), "compressed or deleted before drover read them")
			got := len(r.rec.find("unread then compressed"))
			switch mode {
			case "read":
				if got != 1 || reported {
					t.Errorf("the compressed file's unread line came %d times (loss reported: %v), want once, no loss", got, reported)
				}
			case "skip":
				if got != 0 || !reported {
					t.Errorf("the compressed file's unread line came %d times (loss reported: %v), want a reported loss", got, reported)
				}
			}
		})
	}
}

// A pod seen for the first time with compressed files (it started and
// rotated twice while drover was down): compressed = "read" reads them
// first, in order.
func TestCompressedFilesOfANewPodAreRead(t *testing.T) {
	c := newCluster(t)
	_, ws := c.pod("apps", "api", podlogs.CRI, "app")
	r := c.run(t, nil)
	must(t, ws[0].WriteLine("stdout", "seen"))
	waitFor(t, "the first line", func() bool { return len(r.rec.find("seen")) == 1 })
	r.stop(t)
	_, fast := c.pod("apps", "fast", podlogs.CRI, "app")
	for i := range 3 {
		must(t, fast[0].WriteLine("stdout", fmt.Sprintf("fast %d", i)))
		must(t, fast[0].Rotate())
	}
	must(t, fast[0].WriteLine("stdout", "fast 3"))
	if gz, _ := filepath.Glob(filepath.Join(fast[0].Dir(), "*.gz")); len(gz) != 2 {
		t.Fatalf("compressed files: %v", gz)
	}
	r = c.run(t, nil)
	waitFor(t, "the fast pod's lines", func() bool { return len(r.rec.find("fast ")) >= 4 })
	var got []string
	for _, g := range r.rec.find("fast ") {
		got = append(got, g.msg)
	}
	if strings.Join(got, ",") != "fast 0,fast 1,fast 2,fast 3" {
		t.Fatalf("got %q", got)
	}
	if !strings.Contains(c.logs.String(), "the kubelet compressed before drover read it") {
		t.Error("the compressed files were not read from their .gz")
	}
}

func dumpLogs(t *testing.T, c *cluster) {
	if t.Failed() {
		t.Log(c.logs.String())
	}
}

// A pod the API never showed whose directory the kubelet removes before
// unknown_pod_wait ran out: what drover holds open of it is shipped with
// the metadata its path tells, not dropped.
func TestUnknownPodRemovedBeforeItsWait(t *testing.T) {
	c := newCluster(t)
	defer dumpLogs(t, c)
	c.mutate = func(cfg *Config) { cfg.UnknownPodWait = time.Hour }
	r := c.run(t, nil)
	w := &podlogs.Container{Root: c.root, Namespace: "batch", Pod: "brief", UID: "uid-brief", Name: "main", Now: c.clock.Now}
	for i := range 20 {
		must(t, w.WriteLine("stdout", fmt.Sprintf("brief %d", i)))
	}
	path := w.Path()
	waitFor(t, "the source to open the file", func() bool {
		return strings.Contains(c.logs.String(), "following container log file") && strings.Contains(c.logs.String(), path)
	})
	must(t, w.RemovePod())
	waitFor(t, "the brief pod's lines", func() bool { return len(r.rec.find("brief ")) == 20 })
	if g := r.rec.find("brief ")[0]; g.field("kubernetes.pod_uid") != "uid-brief" || g.field("kubernetes.namespace") != "batch" {
		t.Fatalf("metadata %s", g.json)
	}
}

// A container that resumes in a file that is still there reads the files
// after it, also those the kubelet compressed while drover was down.
func TestResumeReadsCompressedFilesAfterThePosition(t *testing.T) {
	c := newCluster(t)
	defer dumpLogs(t, c)
	_, ws := c.pod("apps", "api", podlogs.CRI, "app")
	w := ws[0]
	r := c.run(t, nil)
	must(t, w.WriteLine("stdout", "first"))
	waitFor(t, "the first line", func() bool { return len(r.rec.find("first")) == 1 })
	r.stop(t)
	must(t, w.RestartContainer()) // 0.log, the position's file, stays
	must(t, w.WriteLine("stdout", "later 1"))
	must(t, w.Rotate())
	must(t, w.WriteLine("stdout", "later 2"))
	must(t, w.Rotate()) // the first rotated file is compressed
	must(t, w.WriteLine("stdout", "later 3"))
	r = c.run(t, nil)
	waitFor(t, "the live file's line", func() bool { return len(r.rec.find("later 3")) == 1 })
	var got []string
	for _, g := range r.rec.find("later ") {
		got = append(got, g.msg)
	}
	if strings.Join(got, ",") != "later 1,later 2,later 3" || len(r.rec.find("first")) != 0 {
		t.Fatalf("got %q and %d repeats of the first line", got, len(r.rec.find("first")))
	}
}
