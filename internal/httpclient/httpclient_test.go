package httpclient

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/httpclient/httpclienttest"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		opts  Options
		field string // "" = valid
	}{
		{"empty", Options{}, ""},
		{"basic", Options{Auth: &AuthConfig{Strategy: "basic", User: "u", Password: "p"}}, ""},
		{"bearer", Options{Auth: &AuthConfig{Strategy: "bearer", Token: "t"}}, ""},
		{"basic without user", Options{Auth: &AuthConfig{Strategy: "basic"}}, "auth.user"},
		{"basic with token", Options{Auth: &AuthConfig{Strategy: "basic", User: "u", Token: "t"}}, "auth.token"},
		{"bearer without token", Options{Auth: &AuthConfig{Strategy: "bearer"}}, "auth.token"},
		{"bearer with user", Options{Auth: &AuthConfig{Strategy: "bearer", Token: "t", User: "u"}}, "auth.user"},
		{"unknown strategy", Options{Auth: &AuthConfig{Strategy: "digest"}}, "auth.strategy"},
		{"api key", Options{Auth: &AuthConfig{Strategy: "api_key", APIKey: "a2V5OnNlY3JldA=="}}, ""},
		{"api key missing", Options{Auth: &AuthConfig{Strategy: "api_key"}}, "auth.api_key"},
		{"api key with newline", Options{Auth: &AuthConfig{Strategy: "api_key", APIKey: "k\r\nX: y"}}, "auth.api_key"},
		{"api key with user", Options{Auth: &AuthConfig{Strategy: "api_key", APIKey: "k", User: "u"}}, "auth.user"},
		{"api key with token", Options{Auth: &AuthConfig{Strategy: "api_key", APIKey: "k", Token: "t"}}, "auth.token"},
		{"basic with api key", Options{Auth: &AuthConfig{Strategy: "basic", User: "u", APIKey: "k"}}, "auth.api_key"},
		{"bearer with api key", Options{Auth: &AuthConfig{Strategy: "bearer", Token: "t", APIKey: "k"}}, "auth.api_key"},
		{"bearer from a file", Options{Auth: &AuthConfig{Strategy: "bearer", TokenFile: "/run/secrets/token"}}, ""},
		{"token and token_file", Options{Auth: &AuthConfig{Strategy: "bearer", Token: "t", TokenFile: "/f"}}, "auth.token_file"},
		{"basic password from a file", Options{Auth: &AuthConfig{Strategy: "basic", User: "u", PasswordFile: "/f"}}, ""},
		{"password and password_file", Options{Auth: &AuthConfig{Strategy: "basic", User: "u", Password: "p", PasswordFile: "/f"}}, "auth.password_file"},
		{"basic with token_file", Options{Auth: &AuthConfig{Strategy: "basic", User: "u", TokenFile: "/f"}}, "auth.token"},
		{"api key from a file", Options{Auth: &AuthConfig{Strategy: "api_key", APIKeyFile: "/f"}}, ""},
		{"api_key and api_key_file", Options{Auth: &AuthConfig{Strategy: "api_key", APIKey: "k", APIKeyFile: "/f"}}, "auth.api_key_file"},
		{"bearer with password_file", Options{Auth: &AuthConfig{Strategy: "bearer", Token: "t", PasswordFile: "/f"}}, "auth.user"},
		{"cert without key", Options{TLS: &TLSConfig{CertFile: "c.pem"}}, "tls.key_file"},
		{"key without cert", Options{TLS: &TLSConfig{KeyFile: "k.pem"}}, "tls.cert_file"},
		{"good headers", Options{Headers: map[string]string{"X-Scope-OrgID": "team", "Content-Type": "application/json", "Host": "h"}}, ""},
		{"bad header name", Options{Headers: map[string]string{"X Bad": "v"}}, "headers"},
		{"reserved header", Options{Headers: map[string]string{"content-length": "5"}}, "headers"},
		{"header value with newline", Options{Headers: map[string]string{"X-A": "a\r\nX-B: b"}}, "headers"},
		{"authorization with auth", Options{Auth: &AuthConfig{Strategy: "bearer", Token: "t"}, Headers: map[string]string{"authorization": "x"}}, "headers"},
		{"negative timeout", Options{ConnectTimeout: -time.Second}, "connect_timeout"},
	}
	for _, c := range cases {
		err := c.opts.Validate()
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var fe *config.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: error %v, want one on %s", c.name, err, c.field)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"99999999999", 24 * time.Hour, true},
		{"Mon, 06 May 2024 07:08:39 GMT", 30 * time.Second, true},
		{"Monday, 06-May-24 07:09:09 GMT", time.Minute, true},
		{"Mon, 06 May 2024 07:00:00 GMT", 0, true},
		{"Wed, 01 Oct 2100 0:00:00 GMT", 24 * time.Hour, true}, // found by FuzzCheckPush of the loki sink
		{"", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
	}
	for _, c := range cases {
		got, ok := ParseRetryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestCheckResponse(t *testing.T) {
	now := time.Now()
	resp := func(code int, body string, h http.Header) *http.Response {
		if h == nil {
			h = http.Header{}
		}
		return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader(body))}
	}
	if err := CheckResponse(resp(204, "", nil), now); err != nil {
		t.Fatalf("204: %v", err)
	}
	for _, code := range []int{301, 400, 401, 403, 404, 408, 413, 429, 500, 503} {
		err := CheckResponse(resp(code, "no", nil), now)
		var se *StatusError
		if !errors.As(err, &se) || se.Code != code || se.StatusCode() != code || se.RetryAfter != 0 {
			t.Errorf("%d: %v should be a StatusError without delay", code, err)
		}
	}
	err := CheckResponse(resp(429, "slow down", http.Header{"Retry-After": {"7"}}), now)
	if se := (*StatusError)(nil); !errors.As(err, &se) || se.RetryAfter != 7*time.Second {
		t.Errorf("Retry-After not carried: %v", err)
	}
	long := strings.Repeat("x", 5000)
	err = CheckResponse(resp(400, "bad\x00 request\n"+long, nil), now)
	var se *StatusError
	if !errors.As(err, &se) || !strings.HasPrefix(se.Body, "bad request x") || len(se.Body) > SnippetBytes {
		t.Errorf("snippet = %q (%d bytes)", se.Body[:20], len(se.Body))
	}
	if !strings.HasPrefix(err.Error(), "HTTP 400 Bad Request: bad request") {
		t.Errorf("error text = %.60s", err.Error())
	}
}

func TestClientHeadersAndAuth(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r }))
	defer srv.Close()
	for _, c := range []struct {
		auth *AuthConfig
		want string
	}{
		{&AuthConfig{Strategy: "basic", User: "alice", Password: "s3cret"}, "Basic YWxpY2U6czNjcmV0"},
		{&AuthConfig{Strategy: "bearer", Token: "tok"}, "Bearer tok"},
		{&AuthConfig{Strategy: "api_key", APIKey: "a2V5OnNlY3JldA=="}, "ApiKey a2V5OnNlY3JldA=="},
	} {
		cl, err := New(Options{Auth: c.auth, Headers: map[string]string{"X-Scope-OrgID": "team-a", "host": "logs.example", "Content-Type": "text/custom"}})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(context.Background(), "POST", srv.URL, strings.NewReader("x"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		r := <-got
		if r.Header.Get("Authorization") != c.want || r.Header.Get("X-Scope-OrgID") != "team-a" || r.Host != "logs.example" {
			t.Errorf("headers %v host %q", r.Header, r.Host)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("the request's own Content-Type was overridden: %q", ct)
		}
		cl.CloseIdleConnections()
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	cl, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("body"))
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var se *StatusError
	if err := CheckResponse(resp, time.Now()); !errors.As(err, &se) || se.Code != http.StatusFound || hits != 1 {
		t.Fatalf("redirect: err %v after %d hits", err, hits)
	}
}

func TestTLS(t *testing.T) {
	pki := httpclienttest.NewPKI(t)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	get := func(cl *Client, url string) error {
		req, _ := http.NewRequest("GET", url, nil)
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		defer cl.CloseIdleConnections()
		return CheckResponse(resp, time.Now())
	}

	srv := pki.NewServer(t, ok, false)
	// Without the CA the certificate is unknown.
	plain, _ := New(Options{})
	if err := get(plain, srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unknown CA accepted: %v", err)
	}
	withCA, err := New(Options{TLS: &TLSConfig{CAFile: pki.CAFile}})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(withCA, srv.URL); err != nil {
		t.Fatalf("with ca_file: %v", err)
	}
	// server_name: verify against the certificate's DNS name while
	// connecting to 127.0.0.1.
	named, _ := New(Options{TLS: &TLSConfig{CAFile: pki.CAFile, ServerName: pki.ServerName}})
	if err := get(named, srv.URL); err != nil {
		t.Fatalf("with server_name: %v", err)
	}
	wrongName, _ := New(Options{TLS: &TLSConfig{CAFile: pki.CAFile, ServerName: "other.test"}})
	if err := get(wrongName, srv.URL); err == nil {
		t.Fatal("certificate accepted for the wrong server_name")
	}
	insecure, _ := New(Options{TLS: &TLSConfig{InsecureSkipVerify: true}})
	if err := get(insecure, srv.URL); err != nil {
		t.Fatalf("insecure_skip_verify: %v", err)
	}

	mtls := pki.NewServer(t, ok, true)
	if err := get(withCA, mtls.URL); err == nil {
		t.Fatal("server requiring a client certificate accepted none")
	}
	withCert, err := New(Options{TLS: &TLSConfig{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(withCert, mtls.URL); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
}

func TestNewReportsBadFiles(t *testing.T) {
	_, err := New(Options{TLS: &TLSConfig{CAFile: "/nonexistent/ca.pem"}})
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Field != "tls.ca_file" {
		t.Fatalf("err = %v", err)
	}
	pki := httpclienttest.NewPKI(t)
	_, err = New(Options{TLS: &TLSConfig{CAFile: pki.ClientKeyFile}})
	if !errors.As(err, &fe) || fe.Field != "tls.ca_file" {
		t.Fatalf("a key as CA file: %v", err)
	}
	_, err = New(Options{TLS: &TLSConfig{CertFile: pki.ClientCertFile, KeyFile: pki.CAFile}})
	if !errors.As(err, &fe) || fe.Field != "tls.cert_file" {
		t.Fatalf("mismatched key: %v", err)
	}
}

func TestSecretFromAFileIsReadAgainWhenItChanges(t *testing.T) {
	got := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Get("Authorization") }))
	defer srv.Close()
	dir := t.TempDir()
	path := dir + "/token"
	if err := os.WriteFile(path, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := secretCheckInterval
	secretCheckInterval = 0
	t.Cleanup(func() { secretCheckInterval = old })
	cl, err := New(Options{Auth: &AuthConfig{Strategy: "bearer", TokenFile: path}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()
	send := func() string {
		t.Helper()
		if err := cl.Send(context.Background(), Request{URL: srv.URL, Body: []byte("x")}, nil); err != nil {
			t.Fatal(err)
		}
		return <-got
	}
	if h := send(); h != "Bearer first" {
		t.Fatalf("Authorization = %q", h)
	}
	// Rotated the way Vault agent does it: a new file renamed over the old.
	if err := os.WriteFile(path+".tmp", []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	if h := send(); h != "Bearer second" {
		t.Fatalf("Authorization after the rotation = %q", h)
	}
	// A file that is gone keeps the last secret.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if h := send(); h != "Bearer second" {
		t.Fatalf("Authorization without the file = %q", h)
	}
	for _, c := range []struct {
		auth *AuthConfig
		want string
	}{
		{&AuthConfig{Strategy: "basic", User: "alice", PasswordFile: dir + "/pw"}, "Basic YWxpY2U6czNjcmV0"},
		{&AuthConfig{Strategy: "api_key", APIKeyFile: dir + "/pw"}, "ApiKey s3cret"},
	} {
		if err := os.WriteFile(dir+"/pw", []byte("  s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cl, err := New(Options{Auth: c.auth})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Send(context.Background(), Request{URL: srv.URL}, nil); err != nil {
			t.Fatal(err)
		}
		if h := <-got; h != c.want {
			t.Errorf("Authorization = %q, want %q", h, c.want)
		}
		cl.CloseIdleConnections()
	}
}

func TestSecretFileErrorsNameTheAttribute(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/empty", []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, a := range []*AuthConfig{
		{Strategy: "bearer", TokenFile: dir + "/missing"},
		{Strategy: "bearer", TokenFile: dir + "/empty"},
	} {
		_, err := New(Options{Auth: a})
		var fe *config.FieldError
		if !errors.As(err, &fe) || fe.Field != "auth.token_file" {
			t.Errorf("%+v: err = %v", a, err)
		}
	}
}

func TestSendGzipsAndWaitsForTheBody(t *testing.T) {
	type seen struct {
		enc, ct, body string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Error(err)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		got <- seen{r.Header.Get("Content-Encoding"), r.Header.Get("Content-Type"), string(b)}
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	cl, _ := New(Options{})
	defer cl.CloseIdleConnections()
	payload := []byte(strings.Repeat("line\n", 1000))
	err := cl.Send(context.Background(), Request{Method: "PUT", URL: srv.URL, Body: payload, Gzip: true,
		Header: http.Header{"Content-Type": {"application/x-ndjson"}}}, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusTeapot {
		t.Fatalf("err = %v", err)
	}
	if s := <-got; s.enc != "gzip" || s.ct != "application/x-ndjson" || s.body != string(payload) {
		t.Fatalf("server saw %q %q and %d bytes", s.enc, s.ct, len(s.body))
	}
	checked := false
	err = cl.Send(context.Background(), Request{URL: srv.URL, Body: []byte("x")}, func(resp *http.Response) error {
		checked = true
		resp.Body.Close()
		return nil
	})
	if err != nil || !checked {
		t.Fatalf("custom check: %v %v", err, checked)
	}
	if s := <-got; s.enc != "" || s.body != "x" {
		t.Fatalf("plain body: %+v", s)
	}
}

func TestSettingsOptionsAndRedact(t *testing.T) {
	s := DefaultSettings()
	if s.ConnectTimeout != DefaultConnectTimeout {
		t.Fatalf("default connect_timeout = %v", s.ConnectTimeout)
	}
	s.Headers = map[string]string{"X-A": "b"}
	s.TLS = &TLSConfig{ServerName: "x"}
	s.Auth = &AuthConfig{Strategy: AuthBearer, Token: "t"}
	o := s.Options(3)
	if o.MaxConnsPerHost != 3 || o.TLS != s.TLS || o.Auth != s.Auth || o.Headers["X-A"] != "b" || o.ConnectTimeout != DefaultConnectTimeout {
		t.Fatalf("Options = %+v", o)
	}
	if got := Redact("https://u:secret@host/p"); got != "https://u:xxxxx@host/p" {
		t.Errorf("Redact = %q", got)
	}
	if got := Redact("://bad"); got != "://bad" {
		t.Errorf("Redact of an unparsable uri = %q", got)
	}
}
