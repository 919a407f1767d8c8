package nomad

import "testing"

// Why names the rule or hint that leaves a task out, and agrees with
// Selected.
func TestWhyNamesTheRule(t *testing.T) {
	sel, err := NewSelector(
		Selection{Namespaces: []string{"prod", "staging"}},
		Selection{Jobs: []string{"batch-*"}, Tasks: []string{"connect-proxy-*"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sub  Subject
		want string
	}{
		{Subject{Namespace: "prod", Job: "web", Task: "api"}, ""},
		{Subject{Namespace: "dev", Job: "web", Task: "api"}, `include.namespaces: no pattern matches ["prod", "staging"]`},
		{Subject{Namespace: "prod", Job: "web", Task: "connect-proxy-api"}, `exclude.tasks "connect-proxy-*"`},
		{Subject{Namespace: "prod", Job: "batch-x/dispatch-1", ParentJob: "batch-x", Task: "run"}, `exclude.jobs "batch-*"`},
		{Subject{Namespace: "prod", Job: "web", Task: "api", Meta: map[string]string{"drover.exclude": "yes-ish"}}, ""},
		{Subject{Namespace: "prod", Job: "web", Task: "api", Meta: map[string]string{"drover.exclude": " TRUE "}}, `meta drover.exclude = " TRUE "`},
		{Subject{Namespace: "prod", Job: "web", Task: "api", Meta: map[string]string{"drover.enabled": "false"}}, `meta drover.enabled = "false"`},
		// An exclude rule wins over drover.enabled = "true".
		{Subject{Namespace: "prod", Job: "web", Task: "connect-proxy-x", Meta: map[string]string{"drover.enabled": "true"}}, `exclude.tasks "connect-proxy-*"`},
	} {
		if got := sel.Why(c.sub); got != c.want {
			t.Errorf("Why(%+v) = %q, want %q", c.sub, got, c.want)
		}
		if sel.Selected(c.sub) != (c.want == "") {
			t.Errorf("Selected(%+v) disagrees with Why", c.sub)
		}
	}
	var none *Selector
	if got := none.Why(Subject{Task: "x", Meta: map[string]string{"drover.exclude": "1"}}); got != `meta drover.exclude = "1"` {
		t.Errorf("nil selector: %q", got)
	}
}
