package discovery

import "testing"

func TestTargetPath(t *testing.T) {
	for _, c := range []struct {
		t    Target
		want string
	}{
		{Target{Dir: "/a/logs", Name: "api.stdout"}, "/a/logs/api.stdout"},
		{Target{Dir: "/var/log/", Name: "app.log"}, "/var/log/app.log"},
		{Target{Dir: "/var/log/pods/ns_p_uid/c"}, "/var/log/pods/ns_p_uid/c"},
	} {
		if got := c.t.Path(); got != c.want {
			t.Errorf("Path of %+v = %q, want %q", c.t, got, c.want)
		}
	}
}

func TestSchemeNames(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range []Scheme{Numbered, Logrotate, Kubernetes} {
		n := s.String()
		if n == "unknown" || seen[n] {
			t.Errorf("scheme %d is named %q", s, n)
		}
		seen[n] = true
	}
	if Scheme(0).String() != "unknown" {
		t.Error("the zero scheme has a name")
	}
}
