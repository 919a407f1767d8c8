package nomadclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// agent answers like a Nomad agent: the leader without a token, and the
// token's own description when ACLs are on.
func agent(t *testing.T, acls bool, good string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/status/leader":
			w.Write([]byte(`"127.0.0.1:4647"`))
		case "/v1/acl/token/self":
			switch {
			case !acls:
				http.Error(w, "ACL support disabled", http.StatusBadRequest)
			case r.Header.Get("X-Nomad-Token") == good:
				w.Write([]byte(`{"AccessorID":"a","SecretID":"` + good + `","Type":"client"}`))
			default:
				http.Error(w, "ACL token not found", http.StatusForbidden)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Setenv("NOMAD_TOKEN", "")
	t.Setenv("NOMAD_ADDR", "")
	withACL := agent(t, true, "good-secret")
	withoutACL := agent(t, false, "")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Address: withACL, Token: "good-secret"}, ""},
		{Config{Address: withACL}, ""}, // no token: nothing to check
		{Config{Address: withACL, Token: "revoked"}, "does not accept the token"},
		{Config{Address: withoutACL, Token: "anything"}, ""},
		{Config{Address: "http://127.0.0.1:1"}, "cannot reach the Nomad API at http://127.0.0.1:1"},
	} {
		err := tc.cfg.Check(ctx)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "revoked") {
			t.Errorf("the error shows the token: %v", err)
		}
	}
}
