// Package kubernetes holds drover's Kubernetes manifests; its test decodes
// them strictly with the k8s.io/api types, so that a misspelt field fails
// here rather than in a cluster.
package kubernetes

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/drover-dev/drover/internal/config"
	_ "github.com/drover-dev/drover/internal/plugins"
)

// objects decodes every document of the manifest strictly (unknown fields
// are errors) into the k8s.io/api type its kind names.
func objects(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("drover.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for i, doc := range strings.Split(string(raw), "\n---\n") {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("document %d: %v", i+1, err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 Namespace":
			obj = &corev1.Namespace{}
		case "v1 ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "rbac.authorization.k8s.io/v1 ClusterRole":
			obj = &rbacv1.ClusterRole{}
		case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
			obj = &rbacv1.ClusterRoleBinding{}
		case "apps/v1 DaemonSet":
			obj = &appsv1.DaemonSet{}
		default:
			t.Fatalf("document %d: unexpected %s %s", i+1, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("document %d (%s): %v", i+1, tm.Kind, err)
		}
		if _, dup := out[tm.Kind]; dup {
			t.Fatalf("two %s", tm.Kind)
		}
		out[tm.Kind] = obj
	}
	return out
}

func TestManifest(t *testing.T) {
	objs := objects(t)
	if len(objs) != 6 {
		t.Fatalf("%d objects", len(objs))
	}
	ns := objs["Namespace"].(*corev1.Namespace).Name
	sa := objs["ServiceAccount"].(*corev1.ServiceAccount)
	if sa.Namespace != ns {
		t.Fatalf("service account in %q", sa.Namespace)
	}

	// Least privilege: get, list, watch on pods and namespaces, nothing
	// else.
	role := objs["ClusterRole"].(*rbacv1.ClusterRole)
	if len(role.Rules) != 1 {
		t.Fatalf("rules: %+v", role.Rules)
	}
	r := role.Rules[0]
	if !slices.Equal(r.APIGroups, []string{""}) || !slices.Equal(r.Resources, []string{"pods", "namespaces"}) ||
		!slices.Equal(r.Verbs, []string{"get", "list", "watch"}) || len(r.ResourceNames) != 0 || len(r.NonResourceURLs) != 0 {
		t.Fatalf("rule: %+v", r)
	}
	b := objs["ClusterRoleBinding"].(*rbacv1.ClusterRoleBinding)
	if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != role.Name || len(b.Subjects) != 1 ||
		b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != sa.Name || b.Subjects[0].Namespace != ns {
		t.Fatalf("binding: %+v", b)
	}

	ds := objs["DaemonSet"].(*appsv1.DaemonSet)
	spec := ds.Spec.Template.Spec
	if ds.Namespace != ns || spec.ServiceAccountName != sa.Name {
		t.Fatalf("daemonset namespace %q, service account %q", ds.Namespace, spec.ServiceAccountName)
	}
	if !labelsMatch(ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels) {
		t.Fatal("the selector does not select the template")
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	var nodeEnv bool
	for _, e := range c.Env {
		if e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName" {
			nodeEnv = true
		}
	}
	if !nodeEnv {
		t.Fatal("NODE_NAME is not set from spec.nodeName")
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Fatalf("resources: %+v", c.Resources)
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Fatal("root filesystem is writable")
	}

	// Probes on the admin endpoint: /health for liveness, /ready for
	// readiness, on the port the configuration's admin block listens on.
	if len(c.Ports) != 1 || c.Ports[0].Name != "admin" {
		t.Fatalf("ports: %+v", c.Ports)
	}
	for _, p := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.LivenessProbe, "/health"}, {c.ReadinessProbe, "/ready"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.StrVal != "admin" {
			t.Fatalf("probe for %s: %+v", p.path, p.probe)
		}
	}

	// Mounts: the config, /var/log/pods read-only from the host, the state
	// directory from the host (it outlives the pod).
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		if _, ok := volumes[m.Name]; !ok {
			t.Fatalf("mount of an unknown volume %s", m.Name)
		}
		mounts[m.MountPath] = m
	}
	if m := mounts["/var/log/pods"]; !m.ReadOnly || hostPath(volumes[m.Name]) != "/var/log/pods" {
		t.Fatalf("/var/log/pods: %+v", m)
	}
	cm := objs["ConfigMap"].(*corev1.ConfigMap)
	hcl := cm.Data["drover.hcl"]
	if !strings.Contains(hcl, `data_dir         = "/var/lib/drover"`) {
		t.Fatal("the configuration's data_dir is not the mounted state directory")
	}
	if m := mounts["/var/lib/drover"]; m.ReadOnly || hostPath(volumes[m.Name]) == "" {
		t.Fatalf("state directory: %+v", m)
	}
	if m := mounts["/etc/drover"]; volumes[m.Name].ConfigMap == nil || volumes[m.Name].ConfigMap.Name != cm.Name ||
		!slices.Contains(c.Args, "/etc/drover/drover.hcl") {
		t.Fatalf("config mount: %+v, args %v", m, c.Args)
	}
	if cm.Namespace != ns {
		t.Fatalf("configmap in %q", cm.Namespace)
	}
	// The whole configuration loads and validates as drover run would
	// load it in the pod (NODE_NAME set by the downward API).
	env := func(name string) (string, bool) {
		if name == "NODE_NAME" {
			return "node-1", true
		}
		return "", false
	}
	if _, err := config.Load("drover.hcl", []byte(hcl), env); err != nil {
		t.Fatalf("drover.hcl: %v", err)
	}
	if !strings.Contains(hcl, fmt.Sprintf(`admin { address = "0.0.0.0:%d" }`, c.Ports[0].ContainerPort)) {
		t.Fatalf("the admin block does not listen on port %d on all addresses", c.Ports[0].ContainerPort)
	}
	if !strings.Contains(hcl, `topic         = "logs-{{ kubernetes.namespace }}"`) || !strings.Contains(hcl, `default_topic = "logs-unknown"`) {
		t.Fatal("the seed's topic per namespace is not configured")
	}
}

func hostPath(v corev1.Volume) string {
	if v.HostPath == nil {
		return ""
	}
	return v.HostPath.Path
}

func labelsMatch(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}
