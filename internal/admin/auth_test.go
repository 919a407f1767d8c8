package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/metrics"
)

func request(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") != `Bearer realm="drover"` {
		t.Errorf("401 without a Bearer challenge: %v", resp.Header)
	}
	return resp.StatusCode, string(b)
}

func TestTokenGuardsEveryPathButTheOpenOnes(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	srv := httptest.NewServer(Handler(Options{
		Config:  config.Admin{Token: tok, Unauthenticated: []string{"/health", "/ready"}, Pprof: true},
		Metrics: metrics.New(), Status: readyStatus,
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/health", "", 200},
		{"/ready", "", 200},
		{"/metrics", "", 401},
		{"/metrics", "Bearer wrong", 401},
		{"/metrics", "Basic " + tok, 401},
		{"/metrics", "Bearer " + tok + "x", 401},
		{"/metrics", "Bearer " + tok, 200},
		{"/metrics", "bearer " + tok, 200},
		{"/api/v1/health", "", 401},
		{"/api/v1/health", "Bearer " + tok, 200},
		{"/debug/pprof/", "", 401},
		{"/debug/pprof/", "Bearer " + tok, 200},
		{"/nope", "", 401}, // no hint of what exists
		{"/nope", "Bearer " + tok, 404},
	} {
		if code, body := request(t, srv.URL+tc.path, tc.auth); code != tc.want {
			t.Errorf("GET %s (%q) = %d %q, want %d", tc.path, tc.auth, code, body, tc.want)
		} else if code == 401 && strings.Contains(body, tok) {
			t.Errorf("the 401 shows the token: %q", body)
		}
	}
}

func TestWithoutATokenEverythingIsOpen(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{Config: config.Admin{}, Metrics: metrics.New(), Status: readyStatus}))
	defer srv.Close()
	for _, p := range []string{"/health", "/ready", "/metrics", "/api/v1/health"} {
		if code, _ := request(t, srv.URL+p, ""); code != 200 {
			t.Errorf("GET %s = %d", p, code)
		}
	}
	if code, _ := request(t, srv.URL+"/debug/pprof/", ""); code != 404 {
		t.Errorf("pprof must be off by default: %d", code)
	}
}
