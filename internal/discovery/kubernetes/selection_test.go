package kubernetes

import "testing"

// Why names the rule that leaves a container out exactly when Selected
// leaves it out.
func TestWhyExplainsSelected(t *testing.T) {
	sel, err := NewSelector(
		Selection{Namespaces: []string{"apps-*", "shop"}, NamespaceLabels: "env=prod", Containers: []string{"*"}},
		Selection{Namespaces: []string{"apps-debug"}, PodLabels: "app in (noisy)", Containers: []string{"istio-*"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	prod := map[string]string{"env": "prod"}
	cases := []struct {
		sub  Subject
		want string
	}{
		{Subject{Namespace: "shop", NamespaceLabels: prod, PodKnown: true, Container: "app"}, ""},
		{Subject{Namespace: "kube-system", NamespaceLabels: prod, PodKnown: true, Container: "app"},
			`include.namespaces: no pattern matches ["apps-*", "shop"]`},
		{Subject{Namespace: "shop", NamespaceLabels: map[string]string{"env": "dev"}, PodKnown: true, Container: "app"},
			`include.namespace_labels "env=prod" does not match`},
		{Subject{Namespace: "apps-debug", NamespaceLabels: prod, PodKnown: true, Container: "app"}, `exclude.namespaces "apps-debug"`},
		{Subject{Namespace: "shop", NamespaceLabels: prod, PodLabels: map[string]string{"app": "noisy"}, PodKnown: true, Container: "app"},
			`exclude.pod_labels "app in (noisy)"`},
		// The labels of a pod the API did not show are unknown: pod_labels
		// do not apply.
		{Subject{Namespace: "shop", NamespaceLabels: prod, PodLabels: map[string]string{"app": "noisy"}, Container: "app"}, ""},
		{Subject{Namespace: "apps-1", NamespaceLabels: prod, PodKnown: true, Container: "istio-proxy"}, `exclude.containers "istio-*"`},
	}
	for _, c := range cases {
		got := sel.Why(c.sub)
		if got != c.want {
			t.Errorf("Why(%+v) = %q, want %q", c.sub, got, c.want)
		}
		if sel.Selected(c.sub) != (got == "") {
			t.Errorf("Selected(%+v) = %v but Why says %q", c.sub, sel.Selected(c.sub), got)
		}
	}
	var none *Selector
	if none.Why(Subject{Namespace: "x", Container: "y"}) != "" {
		t.Error("a nil selector excludes")
	}
}
