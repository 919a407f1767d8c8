package kubernetes

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/kubetest/podlogs"
)

// TestMetadataTargetsAndLifecycle: one group per pod keyed by UID, a
// target per selected container (init containers too), the metadata of the
// API (owner resolved, annotations filtered, hints per container,
// namespace labels), then an update, a terminal phase and the deletion.
func TestMetadataTargetsAndLifecycle(t *testing.T) {
	p := newPod("apps", "web-5d8f7c9b4-abcde", "u1", "app", "sidecar", "debug")
	p.Labels["pod-template-hash"] = "5d8f7c9b4"
	p.Annotations = map[string]string{
		AnnotationParser: "json", AnnotationMultiline + ".sidecar": "java", AnnotationExclude + ".debug": "true",
		"app.kubernetes.io/version": "1.2", "kubectl.kubernetes.io/last-applied-configuration": "{...}",
	}
	p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-5d8f7c9b4", Controller: ptr.To(true)}}
	p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
	p.Status.PodIP = "10.0.0.7"
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://abc", RestartCount: 2}}
	c := fake.NewClientset(newNamespace("apps", map[string]string{"team": "pay"}), p)
	h := start(t, fromClientset(c), func(c *Config) { c.Annotations = []string{"app.kubernetes.io/*"} })

	full := h.next()
	if len(full) != 1 || full[0].Key != "u1" || full[0].Terminal || full[0].Gone {
		t.Fatalf("full set: %+v", full)
	}
	g := full[0]
	if got := targetKeys(g); got != "u1/init,u1/app,u1/sidecar" {
		t.Fatalf("targets %s", got)
	}
	app := target(t, g, "u1/app")
	if app.Dir != filepath.Join(h.root, "apps_web-5d8f7c9b4-abcde_u1", "app") || app.Scheme != discovery.Kubernetes ||
		app.Compressed != discovery.ReadCompressed || app.Name != "app" {
		t.Fatalf("target %+v", app)
	}
	want := `{"source_type":"kubernetes_logs","host":"n1","kubernetes":{"namespace":"apps","pod_name":"web-5d8f7c9b4-abcde",` +
		`"pod_uid":"u1","pod_ip":"10.0.0.7","node_name":"n1","owner_kind":"Deployment","owner_name":"web",` +
		`"container_name":"app","container_image":"registry/app:1","container_id":"containerd://abc","restart_count":2,` +
		`"labels":{"app":"web-5d8f7c9b4-abcde","pod-template-hash":"5d8f7c9b4"},"annotations":{"app.kubernetes.io/version":"1.2"},` +
		`"namespace_labels":{"team":"pay"},"hints":{"drover.parser":"json"}}}`
	if got := metaJSON(app.Meta); got != want {
		t.Fatalf("metadata\n got %s\nwant %s", got, want)
	}
	if got := metaJSON(target(t, g, "u1/sidecar").Meta); !contains(got, `"hints":{"drover.parser":"json","drover.multiline":"java"}`) {
		t.Fatalf("sidecar hints: %s", got)
	}
	if app.Meta.Source != "k8s" {
		t.Fatalf("source %q", app.Meta.Source)
	}

	ctx := context.Background()
	// An update that changes nothing discovery shows sends nothing; the
	// next send is the other pod's.
	p2 := p.DeepCopy()
	p2.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	must(t, c.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), p2, "apps"))
	must(t, c.Tracker().Add(newPod("apps", "other", "u2", "main")))
	if gs := h.next(); len(gs) != 1 || gs[0].Key != "u2" {
		t.Fatalf("after a no-op update: %+v", gs)
	}
	// A restart: the app container's metadata is rebuilt, the others keep
	// their metadata values.
	p2.Status.ContainerStatuses[0].RestartCount, p2.Status.ContainerStatuses[0].ContainerID = 3, "containerd://def"
	_, err := c.CoreV1().Pods("apps").UpdateStatus(ctx, p2, metav1.UpdateOptions{})
	must(t, err)
	g2 := h.group("u1")
	if target(t, g2, "u1/sidecar").Meta != target(t, g, "u1/sidecar").Meta {
		t.Fatal("unchanged container got a new metadata value")
	}
	if got := metaJSON(target(t, g2, "u1/app").Meta); !contains(got, `"container_id":"containerd://def","restart_count":3`) {
		t.Fatalf("after restart: %s", got)
	}
	// Succeeded: terminal, same targets.
	p3 := p2.DeepCopy()
	p3.Status.Phase = corev1.PodSucceeded
	_, err = c.CoreV1().Pods("apps").UpdateStatus(ctx, p3, metav1.UpdateOptions{})
	must(t, err)
	if g3 := h.group("u1"); !g3.Terminal || g3.Gone || targetKeys(g3) != "u1/init,u1/app,u1/sidecar" {
		t.Fatalf("terminal: %+v", g3)
	}
	// Deleted: gone, with the last metadata.
	must(t, c.CoreV1().Pods("apps").Delete(ctx, p.Name, metav1.DeleteOptions{}))
	g4 := h.group("u1")
	if !g4.Gone || target(t, g4, "u1/app").Meta != target(t, g2, "u1/app").Meta {
		t.Fatalf("gone: %+v", g4)
	}
}

func contains(s, sub string) bool { return len(sub) == 0 || len(s) >= len(sub) && indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSelectionFollowsNamespaceLabels: include by namespace labels and
// exclude by container glob; a namespace label change selects and
// unselects its pods.
func TestSelectionFollowsNamespaceLabels(t *testing.T) {
	c := fake.NewClientset(
		newNamespace("apps", map[string]string{"team": "pay"}), newNamespace("ops", nil),
		newPod("apps", "a", "ua", "main", "istio-proxy"), newPod("ops", "o", "uo", "main"),
		newPod("apps", "skip", "us", "main"))
	skip := newPod("apps", "skip", "us", "main")
	skip.Labels["logs"] = "off"
	must(t, c.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), skip, "apps"))
	h := start(t, fromClientset(c), func(c *Config) {
		c.Include.NamespaceLabels = "team=pay"
		c.Exclude.Containers = []string{"istio-*"}
		c.Exclude.PodLabels = "logs=off"
	})
	full := h.next()
	if len(full) != 1 || targetKeys(full[0]) != "ua/main" {
		t.Fatalf("full set: %+v", full)
	}
	ctx := context.Background()
	_, err := c.CoreV1().Namespaces().Update(ctx, newNamespace("ops", map[string]string{"team": "pay"}), metav1.UpdateOptions{})
	must(t, err)
	if g := h.group("uo"); targetKeys(g) != "uo/main" || !contains(metaJSON(g.Targets[0].Meta), `"namespace_labels":{"team":"pay"}`) {
		t.Fatalf("selected by the new label: %+v", g)
	}
	_, err = c.CoreV1().Namespaces().Update(ctx, newNamespace("apps", nil), metav1.UpdateOptions{})
	must(t, err)
	if g := h.group("ua"); len(g.Targets) != 0 || g.Gone {
		t.Fatalf("unselected: %+v", g)
	}
}

// TestUnknownPodOnDisk: a pod directory the API never shows is sent at
// once without metadata, then with the metadata of its path (counted);
// its directory's removal makes it gone. A pod the API deleted whose
// directory stays is not taken for an unknown one.
func TestUnknownPodOnDisk(t *testing.T) {
	excludedPod := newPod("apps", "quiet", "ux", "main")
	excludedPod.Annotations = map[string]string{AnnotationExclude: "true"}
	c := fake.NewClientset(newNamespace("batch", map[string]string{"env": "prod"}), excludedPod)
	root := t.TempDir()
	job := &podlogs.Container{Root: root, Namespace: "batch", Pod: "report-29000000-x1", UID: "uj", Name: "main"}
	must(t, job.WriteLine("stdout", "done"))
	must(t, job.Stop())
	quiet := &podlogs.Container{Root: root, Namespace: "apps", Pod: "quiet", UID: "ux", Name: "main"}
	must(t, quiet.WriteLine("stdout", "secret"))
	h := start(t, fromClientset(c), func(c *Config) { c.PodLogsDir = root; c.UnknownPodWait = 300e6 })

	full := h.next()
	if len(full) != 1 || full[0].Key != "uj" || targetKeys(full[0]) != "uj/main" || full[0].Targets[0].Meta != nil {
		t.Fatalf("full set: %+v", full)
	}
	if d := full[0].Targets[0].Dir; d != job.Dir() {
		t.Fatalf("dir %s", d)
	}
	// The excluded pod is deleted from the API; its directory stays.
	must(t, c.CoreV1().Pods("apps").Delete(context.Background(), "quiet", metav1.DeleteOptions{}))
	g := h.group("uj")
	want := `{"source_type":"kubernetes_logs","host":"n1","kubernetes":{"namespace":"batch","pod_name":"report-29000000-x1",` +
		`"pod_uid":"uj","node_name":"n1","container_name":"main","namespace_labels":{"env":"prod"}}}`
	if got := metaJSON(g.Targets[0].Meta); got != want {
		t.Fatalf("path metadata\n got %s\nwant %s", got, want)
	}
	if n := testutil.ToFloat64(h.m.PathMetadata(ReasonUnknownPod)); n != 1 {
		t.Fatalf("path_metadata_total{unknown_pod} = %v", n)
	}
	// A second unknown pod appears after the deletion: by the time its
	// path metadata comes, the deleted pod's would have come too.
	late := &podlogs.Container{Root: root, Namespace: "batch", Pod: "late", UID: "ul", Name: "main"}
	must(t, late.Start())
	for {
		gs := h.next()
		for _, g := range gs {
			if g.Key == "ux" {
				t.Fatalf("the deleted, excluded pod was sent: %+v", g)
			}
		}
		if len(gs) == 1 && gs[0].Key == "ul" && gs[0].Targets[0].Meta != nil {
			break
		}
	}
	must(t, job.RemovePod())
	if g := h.group("uj"); !g.Gone {
		t.Fatalf("removed directory: %+v", g)
	}
	if _, err := os.Stat(quiet.Dir()); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownPodGetsAPIMetadata: a directory found before the API shows
// its pod gets the API's metadata when the pod comes within the wait.
func TestUnknownPodGetsAPIMetadata(t *testing.T) {
	c := fake.NewClientset()
	root := t.TempDir()
	w := &podlogs.Container{Root: root, Namespace: "apps", Pod: "fast", UID: "uf", Name: "main"}
	must(t, w.Start())
	h := start(t, fromClientset(c), func(c *Config) { c.PodLogsDir = root; c.UnknownPodWait = 3600e9 })
	if full := h.next(); len(full) != 1 || full[0].Targets[0].Meta != nil {
		t.Fatalf("full set: %+v", full)
	}
	_, err := c.CoreV1().Pods("apps").Create(context.Background(), newPod("apps", "fast", "uf", "main"), metav1.CreateOptions{})
	must(t, err)
	g := h.group("uf")
	if m := metaJSON(g.Targets[0].Meta); !contains(m, `"container_image":"registry/main:1"`) {
		t.Fatalf("API metadata: %s", m)
	}
	if n := testutil.ToFloat64(h.m.PathMetadata(ReasonUnknownPod)); n != 0 {
		t.Fatalf("path metadata counted: %v", n)
	}
}

func TestOwnerOf(t *testing.T) {
	ctl := ptr.To(true)
	for _, tc := range []struct {
		kind, name, hash string
		want             Owner
	}{
		{"ReplicaSet", "web-5d8f7c9b4", "5d8f7c9b4", Owner{"Deployment", "web"}},
		{"ReplicaSet", "web-5d8f7c9b4", "", Owner{"ReplicaSet", "web-5d8f7c9b4"}},
		{"ReplicaSet", "bare", "5d8f7c9b4", Owner{"ReplicaSet", "bare"}},
		{"Job", "report-29000000", "", Owner{"CronJob", "report"}},
		{"Job", "migrate-1", "", Owner{"Job", "migrate-1"}},
		{"Job", "batch-99999999999", "", Owner{"Job", "batch-99999999999"}},
		{"StatefulSet", "db", "", Owner{"StatefulSet", "db"}},
		{"DaemonSet", "agent", "", Owner{"DaemonSet", "agent"}},
		{"Node", "n1", "", Owner{"Node", "n1"}},
	} {
		p := newPod("a", "p", "u", "c")
		if tc.hash != "" {
			p.Labels[podTemplateHashLabel] = tc.hash
		}
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ConfigMap", Name: "not-controller"}, {Kind: tc.kind, Name: tc.name, Controller: ctl}}
		if got := OwnerOf(p); got != tc.want {
			t.Errorf("%s %s: %+v, want %+v", tc.kind, tc.name, got, tc.want)
		}
	}
	if got := OwnerOf(newPod("a", "p", "u", "c")); got != (Owner{}) {
		t.Errorf("no owner: %+v", got)
	}
}

func TestParsePodDir(t *testing.T) {
	ns, pod, uid, ok := ParsePodDir("kube-system_coredns-abc_0d6e1c7a-1f2b")
	if !ok || ns != "kube-system" || pod != "coredns-abc" || uid != "0d6e1c7a-1f2b" {
		t.Fatal(ns, pod, uid, ok)
	}
	for _, bad := range []string{"a_b", "a_b_c_d", "a__c", "..", "a_b_"} {
		if _, _, _, ok := ParsePodDir(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestMirrorPodUsesConfigHash(t *testing.T) {
	p := newPod("kube-system", "etcd-n1", "api-uid", "etcd")
	p.Annotations = map[string]string{MirrorPodAnnotation: "f00dcafe"}
	h := start(t, fromClientset(fake.NewClientset(p)), nil)
	full := h.next()
	if len(full) != 1 || full[0].Key != "f00dcafe" || full[0].Targets[0].Dir != filepath.Join(h.root, "kube-system_etcd-n1_f00dcafe", "etcd") {
		t.Fatalf("%+v", full)
	}
	if m := metaJSON(full[0].Targets[0].Meta); !contains(m, `"pod_uid":"api-uid"`) {
		t.Fatal(m)
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	t.Setenv(NodeNameEnv, "from-env")
	if err := c.Validate(); err != nil || c.NodeName != "from-env" {
		t.Fatal(err, c.NodeName)
	}
	c = DefaultConfig()
	c.NodeName = "n"
	c.PodLogsDir = "rel"
	c.Compressed = "maybe"
	c.Include.PodLabels = "a in (("
	c.Exclude.Containers = []string{"[x"}
	err := c.Validate()
	for _, want := range []string{"pod_logs_dir", "compressed", "include.pod_labels", "exclude.containers"} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// TestNewPodDirectoryFoundAtOnce: with scans an hour apart, a directory of
// a pod the API does not show is found through fsnotify, and so is the
// container directory created in it later.
func TestNewPodDirectoryFoundAtOnce(t *testing.T) {
	root := t.TempDir()
	h := start(t, fromClientset(fake.NewClientset()), func(c *Config) { c.PodLogsDir = root; c.ScanInterval = time.Hour })
	if full := h.next(); len(full) != 0 {
		t.Fatalf("full set: %+v", full)
	}
	w := &podlogs.Container{Root: root, Namespace: "apps", Pod: "p", UID: "up", Name: "init"}
	must(t, w.Start())
	if g := h.group("up"); targetKeys(g) != "up/init" {
		t.Fatalf("new directory: %+v", g)
	}
	w2 := &podlogs.Container{Root: root, Namespace: "apps", Pod: "p", UID: "up", Name: "main"}
	must(t, w2.Start())
	if g := h.group("up"); targetKeys(g) != "up/init,up/main" {
		t.Fatalf("new container directory: %+v", g)
	}
}

// A pod deleted from the API while its directory is on disk (a forced
// deletion: its containers may still write, restart and rotate) is
// terminal, so that the follower keeps finding its files until they are
// quiet; it is gone once the kubelet removed the directory.
func TestDeletedPodIsTerminalWhileItsDirectoryExists(t *testing.T) {
	p := newPod("apps", "web", "u1", "app")
	c := fake.NewClientset(newNamespace("apps", nil), p)
	h := start(t, fromClientset(c), nil)
	w := &podlogs.Container{Root: h.root, Namespace: "apps", Pod: "web", UID: "u1", Name: "app"}
	must(t, w.Start())
	full := h.next()
	if len(full) != 1 || full[0].Terminal || full[0].Gone {
		t.Fatalf("full set: %+v", full)
	}
	must(t, c.CoreV1().Pods("apps").Delete(context.Background(), p.Name, metav1.DeleteOptions{}))
	g := h.group("u1")
	if !g.Terminal || g.Gone || targetKeys(g) != "u1/app" {
		t.Fatalf("deleted with its directory on disk: %+v", g)
	}
	must(t, w.RemovePod())
	if g := h.group("u1"); !g.Gone {
		t.Fatalf("after its directory was removed: %+v", g)
	}
}
