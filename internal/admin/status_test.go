package admin

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/status"
)

type fakeTap struct {
	ch     chan []byte
	lost   uint64
	closed chan struct{}
}

func (f *fakeTap) Events() <-chan []byte { return f.ch }
func (f *fakeTap) Lost() uint64          { return f.lost }
func (f *fakeTap) Close()                { close(f.closed) }

func authGet(t *testing.T, url, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return resp, b.String()
}

// The page and its assets hold no data and are served without the token;
// the status they load and the tap need it.
func TestStatusPageAndAPIWithToken(t *testing.T) {
	tap := &fakeTap{ch: make(chan []byte, 4), lost: 3, closed: make(chan struct{})}
	tap.ch <- []byte(`{"message":"a"}`)
	tap.ch <- []byte(`{"message":"b"}`)
	var asked string
	srv := httptest.NewServer(Handler(Options{
		Config: config.Admin{Token: "tok"}, Metrics: metrics.New(), Status: readyStatus,
		Overview: func() status.Status { return status.Status{Host: "node-1"} },
		Tap: func(output string, sample int) (TapStream, error) {
			asked = output
			if output == "nope" {
				return nil, errors.New(`no component "nope"`)
			}
			return tap, nil
		},
	}))
	defer srv.Close()

	for path, want := range map[string]string{"/": "<title>drover status</title>", "/ui/app.js": "api/v1/status", "/ui/app.css": "--failing"} {
		resp, body := authGet(t, srv.URL+path, "")
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s without the token = %d, body without %q", path, resp.StatusCode, want)
		}
	}
	if resp, _ := authGet(t, srv.URL+"/nothing-here", "tok"); resp.StatusCode != 404 {
		t.Errorf("GET /nothing-here = %d, want 404 (the page is / only)", resp.StatusCode)
	}
	if resp, _ := authGet(t, srv.URL+"/api/v1/status", ""); resp.StatusCode != 401 {
		t.Errorf("/api/v1/status without the token = %d", resp.StatusCode)
	}
	if resp, body := authGet(t, srv.URL+"/api/v1/status", "tok"); resp.StatusCode != 200 || !strings.Contains(body, `"host": "node-1"`) {
		t.Errorf("/api/v1/status = %d %s", resp.StatusCode, body)
	}
	if resp, _ := authGet(t, srv.URL+"/api/v1/tap?output=x", ""); resp.StatusCode != 401 {
		t.Errorf("/api/v1/tap without the token = %d", resp.StatusCode)
	}
	if resp, body := authGet(t, srv.URL+"/api/v1/tap?output=nope", "tok"); resp.StatusCode != 404 || !strings.Contains(body, `no component "nope"`) {
		t.Errorf("tap of nothing = %d %s", resp.StatusCode, body)
	}
	if resp, _ := authGet(t, srv.URL+"/api/v1/tap?output=x&sample=0", "tok"); resp.StatusCode != 400 {
		t.Errorf("tap with sample 0 = %d", resp.StatusCode)
	}
	resp, body := authGet(t, srv.URL+"/api/v1/tap?output=keep.out&limit=2", "tok")
	if resp.StatusCode != 200 || asked != "keep.out" || body != "{\"event\":{\"message\":\"a\"}}\n{\"event\":{\"message\":\"b\"}}\n" {
		t.Errorf("tap = %d %q (asked for %q)", resp.StatusCode, body, asked)
	}
	<-tap.closed
}
