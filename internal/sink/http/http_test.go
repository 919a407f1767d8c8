package http

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/httpclient/httpclienttest"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// received is one request as the test server saw it.
type received struct {
	method   string
	header   nethttp.Header
	raw      []byte // body as sent (compressed when gzip)
	body     []byte // body after decompression
	messages []string
	at       time.Time
}

// server is an HTTP destination that decodes the sink's requests with the
// standard library (gzip, JSON) and answers according to its mode.
type server struct {
	t         *testing.T
	mu        sync.Mutex
	mode      sinktest.Mode
	transient func(w nethttp.ResponseWriter, r *nethttp.Request)
	refuse    func(w nethttp.ResponseWriter, r *nethttp.Request)
	reqs      []received
	got       []string
}

func newServer(t *testing.T) *server {
	return &server{
		t:         t,
		transient: func(w nethttp.ResponseWriter, r *nethttp.Request) { w.WriteHeader(503) },
		refuse: func(w nethttp.ResponseWriter, r *nethttp.Request) {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"field [nomad] of type object cannot be indexed"}`)
		},
	}
}

func (s *server) SetMode(m sinktest.Mode) { s.mu.Lock(); s.mode = m; s.mu.Unlock() }

func (s *server) Received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func (s *server) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.reqs...)
}

func (s *server) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client gave up
	}
	rec := received{method: r.Method, header: r.Header.Clone(), raw: raw, body: raw, at: time.Now()}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			rec.body, err = io.ReadAll(zr)
		}
		if err != nil {
			s.t.Errorf("bad gzip body: %v", err)
			w.WriteHeader(400)
			return
		}
	}
	if r.Method != "HEAD" && r.Method != "GET" && r.Method != "OPTIONS" {
		rec.messages, err = decode(r.Header.Get("Content-Type"), rec.body)
		if err != nil {
			s.t.Errorf("bad body %q: %v", rec.body, err)
			w.WriteHeader(400)
			return
		}
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	mode := s.mode
	s.mu.Unlock()
	poisoned := slices.ContainsFunc(rec.messages, func(m string) bool { return strings.Contains(m, sinktest.Poison) })
	switch {
	case mode == sinktest.FailTransient:
		s.transient(w, r)
	case mode == sinktest.Unauthorized:
		w.WriteHeader(401)
		io.WriteString(w, "invalid token")
	case mode == sinktest.TooLarge && len(rec.messages) > 2:
		w.WriteHeader(413)
	case mode == sinktest.RefusePoison && poisoned:
		w.WriteHeader(400)
		io.WriteString(w, `{"error":"a line is poisoned"}`)
	case mode == sinktest.Refuse:
		s.refuse(w, r)
	default:
		s.mu.Lock()
		s.got = append(s.got, rec.messages...)
		s.mu.Unlock()
		w.WriteHeader(200)
	}
}

// decode extracts the messages of an NDJSON or JSON array body, checking
// that every object is valid JSON with the expected metadata.
func decode(contentType string, body []byte) ([]string, error) {
	var objs []map[string]any
	switch contentType {
	case "application/json":
		if err := json.Unmarshal(body, &objs); err != nil {
			return nil, err
		}
	case "application/x-ndjson":
		if len(body) > 0 && body[len(body)-1] != '\n' {
			return nil, errors.New("NDJSON body does not end with a newline")
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			var o map[string]any
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
			}
			objs = append(objs, o)
		}
	default:
		return nil, fmt.Errorf("unexpected Content-Type %q", contentType)
	}
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		msg, ok := o["message"].(string)
		if !ok || o["timestamp"] == nil {
			return nil, fmt.Errorf("object without message or timestamp: %v", o)
		}
		out = append(out, msg)
	}
	return out, nil
}

func testConfig(uri string) *Config {
	c := NewConfig()
	c.URI = uri
	c.Batch = batch.Config{MaxEvents: 10, MaxBytes: 1 << 20, Timeout: 2 * time.Millisecond}
	c.Request = driver.RequestConfig{Concurrency: 1, Timeout: 5 * time.Second,
		RetryInitialBackoff: time.Millisecond, RetryMaxBackoff: 5 * time.Millisecond}
	return c
}

// build builds a sink of cfg; cctx defaults to sinktest.Context.
func build(t testing.TB, cfg *Config, cctx ...component.Context) *Sink {
	t.Helper()
	return sinktest.Build(t, Type, New, cfg, cctx...)
}

func TestConformance(t *testing.T) {
	hijackClose := func(w nethttp.ResponseWriter, r *nethttp.Request) {
		conn, _, err := w.(nethttp.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	slow := func(w nethttp.ResponseWriter, r *nethttp.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	variants := []struct {
		name, encoding, compression string
		transient                   func(w nethttp.ResponseWriter, r *nethttp.Request)
		timeout                     time.Duration
	}{
		{"ndjson-503", EncodingNDJSON, CompressionNone, nil, 0},
		{"json-gzip-429", EncodingJSON, CompressionGzip, func(w nethttp.ResponseWriter, r *nethttp.Request) { w.WriteHeader(429) }, 0},
		{"ndjson-gzip-connection-closed", EncodingNDJSON, CompressionGzip, hijackClose, 0},
		{"json-408", EncodingJSON, CompressionNone, func(w nethttp.ResponseWriter, r *nethttp.Request) { w.WriteHeader(408) }, 0},
		// The timeout bounds the slow answers; requests that the destination
		// takes must not reach it on a loaded machine (a request that timed
		// out after it was taken is sent again: a duplicate).
		{"ndjson-slow-response", EncodingNDJSON, CompressionNone, slow, time.Second},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, cctx component.Context) (component.Sink, sinktest.Destination) {
				dest := newServer(t)
				if v.transient != nil {
					dest.transient = v.transient
				}
				srv := httptest.NewServer(dest)
				t.Cleanup(srv.Close)
				cfg := testConfig(srv.URL + "/ingest")
				cfg.Encoding, cfg.Compression = v.encoding, v.compression
				if v.timeout > 0 {
					cfg.Request.Timeout = v.timeout
				}
				return build(t, cfg, cctx), dest
			}})
		})
	}
}

// events returns one event per message.
func events(msgs ...string) []event.Event {
	meta := event.NewMeta("t", event.NewFields(event.Field{Key: "host", Value: event.StringValue("node-1")}))
	var out []event.Event
	for _, m := range msgs {
		out = append(out, event.Event{Timestamp: time.Unix(1700000000, 0), Message: []byte(m), Meta: meta})
	}
	return out
}

func TestFramingCompressionAndHeaders(t *testing.T) {
	cases := []struct {
		encoding, compression, method string
		contentType                   string
		wantBody                      func(body []byte) bool
	}{
		{EncodingNDJSON, CompressionNone, "post", "application/x-ndjson", func(b []byte) bool {
			return bytes.Count(b, []byte("\n")) == 2 && b[0] == '{'
		}},
		{EncodingJSON, CompressionGzip, "PUT", "application/json", func(b []byte) bool {
			return b[0] == '[' && b[len(b)-1] == ']' && !bytes.Contains(b, []byte("\n"))
		}},
	}
	for _, c := range cases {
		t.Run(c.encoding+"-"+c.compression, func(t *testing.T) {
			dest := newServer(t)
			srv := httptest.NewServer(dest)
			defer srv.Close()
			cfg := testConfig(srv.URL)
			cfg.Encoding, cfg.Compression, cfg.Method = c.encoding, c.compression, c.method
			cfg.Headers = map[string]string{"X-Scope-OrgID": "team-a"}
			cfg.Auth = &httpclient.AuthConfig{Strategy: "bearer", Token: "s3cret"}
			r := sinktest.Start(t, build(t, cfg))
			r.Send(events("one", "two \"quoted\"\x00")...)
			if !r.Ack() {
				t.Fatal("not delivered")
			}
			r.Close()
			reqs := dest.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			got := reqs[0]
			if got.method != strings.ToUpper(c.method) {
				t.Errorf("method %s", got.method)
			}
			if ct := got.header.Get("Content-Type"); ct != c.contentType {
				t.Errorf("Content-Type %q", ct)
			}
			if got.header.Get("Authorization") != "Bearer s3cret" || got.header.Get("X-Scope-OrgID") != "team-a" {
				t.Errorf("headers %v", got.header)
			}
			gzipped := got.header.Get("Content-Encoding") == "gzip"
			if gzipped != (c.compression == CompressionGzip) {
				t.Errorf("Content-Encoding %q", got.header.Get("Content-Encoding"))
			}
			if gzipped && (len(got.raw) < 2 || got.raw[0] != 0x1f || got.raw[1] != 0x8b) {
				t.Errorf("body is not gzip: %q", got.raw)
			}
			if !c.wantBody(got.body) {
				t.Errorf("body framing: %q", got.body)
			}
			if fmt.Sprint(got.messages) != fmt.Sprint([]string{"one", "two \"quoted\"\x00"}) {
				t.Errorf("messages %q", got.messages)
			}
		})
	}
}

func TestBasicAuthOverTLS(t *testing.T) {
	pki := httpclienttest.NewPKI(t)
	dest := newServer(t)
	srv := pki.NewServer(t, dest, true)
	cfg := testConfig(srv.URL)
	cfg.Auth = &httpclient.AuthConfig{Strategy: "basic", User: "drover", Password: "pw"}
	cfg.TLS = &httpclient.TLSConfig{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}
	s := build(t, cfg)
	if err := s.Healthcheck(context.Background()); err != nil {
		t.Fatalf("healthcheck over mutual TLS: %v", err)
	}
	r := sinktest.Start(t, s)
	r.Send(events("secure")...)
	if !r.Ack() {
		t.Fatal("not delivered")
	}
	r.Close()
	reqs := dest.requests()
	last := reqs[len(reqs)-1]
	if u, p, ok := (&nethttp.Request{Header: last.header}).BasicAuth(); !ok || u != "drover" || p != "pw" {
		t.Fatalf("basic auth %q %q %v", u, p, ok)
	}
	if fmt.Sprint(dest.Received()) != "[secure]" {
		t.Fatalf("received %v", dest.Received())
	}
}

func TestUnknownCAIsRetriedNotDelivered(t *testing.T) {
	pki := httpclienttest.NewPKI(t)
	dest := newServer(t)
	srv := pki.NewServer(t, dest, false)
	cctx := sinktest.Context(t, Type)
	sinktest.Start(t, build(t, testConfig(srv.URL), cctx)).Send(events("x")...)
	sinktest.WaitFor(t, "failed attempts", func() bool { return testutil.ToFloat64(cctx.Metrics.Errors("send")) >= 2 })
	if len(dest.requests()) != 0 {
		t.Fatal("request went through an unverified TLS connection")
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	for _, header := range []string{"1", "date"} {
		t.Run(header, func(t *testing.T) {
			dest := newServer(t)
			dest.transient = func(w nethttp.ResponseWriter, r *nethttp.Request) {
				v := header
				if v == "date" {
					// An HTTP date has whole seconds: 2s ahead is between 1s and 2s.
					v = time.Now().Add(2 * time.Second).UTC().Format(nethttp.TimeFormat)
				}
				w.Header().Set("Retry-After", v)
				w.WriteHeader(429)
				dest.SetMode(sinktest.Accept)
			}
			dest.SetMode(sinktest.FailTransient)
			srv := httptest.NewServer(dest)
			defer srv.Close()
			r := sinktest.Start(t, build(t, testConfig(srv.URL)))
			r.Send(events("a")...)
			if !r.Ack() {
				t.Fatal("not delivered")
			}
			r.Close()
			reqs := dest.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests", len(reqs))
			}
			// The backoff alone would retry within 5ms.
			if gap := reqs[1].at.Sub(reqs[0].at); gap < 900*time.Millisecond {
				t.Fatalf("retried after %s despite Retry-After", gap)
			}
		})
	}
}

func TestBadRequestIsBisectedAndLoggedOncePerStreakWithBody(t *testing.T) {
	dest := newServer(t)
	dest.SetMode(sinktest.Refuse)
	srv := httptest.NewServer(dest)
	defer srv.Close()
	cctx, logs, dead := sinktest.Recorded(t, Type)
	cfg := testConfig(srv.URL)
	cfg.Batch.MaxEvents = 2
	r := sinktest.Start(t, build(t, cfg, cctx))
	r.Send(events("a", "b", "c", "d", "e")...)
	r.Send(events("f")...)
	if !r.Ack() || !r.Ack() {
		t.Fatal("rejected batches must be released ok (Rejected)")
	}
	r.Close()
	// Three requests of two events, each sent again as two single events.
	if n := len(dest.requests()); n != 9 {
		t.Fatalf("%d requests for 6 events in batches of 2", n)
	}
	if got := testutil.ToFloat64(cctx.Metrics.Discarded("bad_request")); got != 6 {
		t.Fatalf("discarded %v", got)
	}
	if got := testutil.ToFloat64(cctx.Metrics.Retries); got != 0 {
		t.Fatalf("retries %v", got)
	}
	if l := dead.Letters(); len(l) != 6 || l[0].Status != 400 || !strings.Contains(l[0].Error, "cannot be indexed") {
		t.Fatalf("dead letters %+v", l)
	}
	var errs []string
	for _, ln := range logs.Lines(slog.LevelWarn) {
		errs = append(errs, ln.Attrs["error"])
	}
	if len(errs) != 1 {
		t.Fatalf("%d warnings or errors logged, want 1: %q", len(errs), errs)
	}
	if !strings.Contains(errs[0], "HTTP 400 Bad Request") || !strings.Contains(errs[0], "cannot be indexed") ||
		!strings.Contains(errs[0], srv.URL) {
		t.Fatalf("logged error lacks status, body or destination: %q", errs[0])
	}
}

func TestRotatedTokenFileDeliversEverything(t *testing.T) {
	const good = "rotated-token"
	dest := newServer(t)
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+good {
			w.WriteHeader(401)
			return
		}
		dest.ServeHTTP(w, r)
	}))
	defer srv.Close()
	token := t.TempDir() + "/token"
	if err := os.WriteFile(token, []byte("expired\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cctx := sinktest.Context(t, Type)
	cfg := testConfig(srv.URL)
	cfg.Auth = &httpclient.AuthConfig{Strategy: "bearer", TokenFile: token}
	cfg.Request.RetryMaxBackoff = 50 * time.Millisecond
	r := sinktest.Start(t, build(t, cfg, cctx))
	r.Send(events("one", "two")...)
	r.Send(events("three")...)
	sinktest.WaitFor(t, "refused attempts", func() bool { return testutil.ToFloat64(cctx.Metrics.DeliveryFailures("unauthorized")) >= 3 })
	if c := cctx.Health.Conditions(); len(c) != 1 || c[0].State != health.Failing || c[0].Reason != "unauthorized" {
		t.Fatalf("health while unauthorized: %+v", c)
	}
	if _, released := r.Acked(); released {
		t.Fatal("a batch was released while the token was refused")
	}
	sinktest.RotateFile(t, token, good+"\n")
	if !r.Ack() || !r.Ack() {
		t.Fatal("not delivered after the rotation")
	}
	r.Close()
	if got := fmt.Sprint(dest.Received()); got != "[one two three]" {
		t.Fatalf("received %s", got)
	}
	if sinktest.SumDiscarded(t, cctx.Metrics) != 0 || cctx.Health.State() != health.OK {
		t.Fatalf("discarded %v, health %+v", sinktest.SumDiscarded(t, cctx.Metrics), cctx.Health.Conditions())
	}
}

func TestConnectionRefusedThenServerStarts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: connections are refused
	cctx := sinktest.Context(t, Type)
	cfg := testConfig("http://" + addr + "/ingest")
	// A backoff far longer than the test: only the probe's wake-up
	// delivers promptly once the server is back.
	cfg.Request.RetryInitialBackoff, cfg.Request.RetryMaxBackoff = 20*time.Millisecond, time.Minute
	cfg.Request.ProbeInterval = 100 * time.Millisecond
	r := sinktest.Start(t, build(t, cfg, cctx))
	r.Send(events("early", "bird")...)
	sinktest.WaitFor(t, "failed attempts", func() bool { return testutil.ToFloat64(cctx.Metrics.Errors("send")) >= 3 })
	if c := cctx.Health.Conditions(); len(c) != 1 || c[0].Reason != "unreachable" {
		t.Fatalf("health while refused: %+v", c)
	}
	if _, released := r.Acked(); released {
		t.Fatal("acknowledged while the server was down")
	}
	dest := newServer(t)
	srv := httptest.NewUnstartedServer(dest)
	srv.Listener.Close()
	if srv.Listener, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv.Start()
	defer srv.Close()
	began := time.Now()
	if !r.Ack() {
		t.Fatal("not delivered")
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("delivered %s after the server came back", took)
	}
	r.Close()
	if fmt.Sprint(dest.Received()) != "[early bird]" {
		t.Fatalf("received %v", dest.Received())
	}
	if testutil.ToFloat64(cctx.Metrics.Retries) < 3 {
		t.Fatalf("retries %v", testutil.ToFloat64(cctx.Metrics.Retries))
	}
}

func TestHealthcheck(t *testing.T) {
	status := 200
	var method string
	var path string
	var mu sync.Mutex
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		mu.Lock()
		defer mu.Unlock()
		method, path = r.Method, r.URL.Path
		w.WriteHeader(status)
	}))
	defer srv.Close()
	cases := []struct {
		name      string
		status    int
		uri       string
		disabled  bool
		wantError bool
		wantPath  string
	}{
		{"ok", 200, "", false, false, "/ingest"},
		{"405 on the ingest uri is reachable", 405, "", false, false, "/ingest"},
		{"401 on the ingest uri", 401, "", false, true, "/ingest"},
		{"503 on the ingest uri", 503, "", false, true, "/ingest"},
		{"dedicated uri 200", 200, srv.URL + "/health", false, false, "/health"},
		{"dedicated uri 404", 404, srv.URL + "/health", false, true, "/health"},
	}
	for _, c := range cases {
		mu.Lock()
		status, path = c.status, ""
		mu.Unlock()
		cfg := testConfig(srv.URL + "/ingest")
		cfg.Healthcheck.URI = c.uri
		s := build(t, cfg)
		err := s.Healthcheck(context.Background())
		s.client.CloseIdleConnections()
		if (err != nil) != c.wantError {
			t.Errorf("%s: err = %v", c.name, err)
		}
		mu.Lock()
		if path != c.wantPath || method != "HEAD" {
			t.Errorf("%s: checked %s %s", c.name, method, path)
		}
		mu.Unlock()
	}
	cfg := testConfig("http://127.0.0.1:1/ingest")
	cfg.Healthcheck.Enabled = false
	if err := build(t, cfg).Healthcheck(context.Background()); err != nil {
		t.Errorf("disabled healthcheck: %v", err)
	}
	cfg.Healthcheck.Enabled = true
	if err := build(t, cfg).Healthcheck(context.Background()); err == nil {
		t.Error("healthcheck of a closed port succeeded")
	}
}

func TestConfigValidate(t *testing.T) {
	mod := func(f func(c *Config)) *Config {
		c := NewConfig()
		c.URI = "https://logs.example:8443/ingest"
		f(c)
		return c
	}
	if err := mod(func(*Config) {}).Validate(); err != nil {
		t.Fatalf("defaults with a uri: %v", err)
	}
	cases := map[string]*Config{
		"uri":                       mod(func(c *Config) { c.URI = "" }),
		"uri ":                      mod(func(c *Config) { c.URI = "ftp://x/y" }),
		"uri  ":                     mod(func(c *Config) { c.URI = "http:///path" }),
		"method":                    mod(func(c *Config) { c.Method = "GET" }),
		"encoding":                  mod(func(c *Config) { c.Encoding = "protobuf" }),
		"compression":               mod(func(c *Config) { c.Compression = "zstd" }),
		"batch.max_events":          mod(func(c *Config) { c.Batch.MaxEvents = 0 }),
		"request.concurrency":       mod(func(c *Config) { c.Request.Concurrency = 0 }),
		"auth.token":                mod(func(c *Config) { c.Auth = &httpclient.AuthConfig{Strategy: "bearer"} }),
		"tls.key_file":              mod(func(c *Config) { c.TLS = &httpclient.TLSConfig{CertFile: "c.pem"} }),
		"headers":                   mod(func(c *Config) { c.Headers = map[string]string{"Content-Encoding": "br"} }),
		"healthcheck.uri":           mod(func(c *Config) { c.Healthcheck.URI = "localhost:80" }),
		"healthcheck.method":        mod(func(c *Config) { c.Healthcheck.Method = "POST" }),
		"request.retry_max_backoff": mod(func(c *Config) { c.Request.RetryMaxBackoff = time.Millisecond }),
	}
	for field, c := range cases {
		err := c.Validate()
		var fe *config.FieldError
		if !errors.As(err, &fe) || fe.Field != strings.TrimSpace(field) {
			t.Errorf("%s: Validate = %v", field, err)
		}
	}
	if err := mod(func(c *Config) { c.Method = "put" }).Validate(); err != nil {
		t.Errorf("lower-case put: %v", err)
	}
}

func TestRegistered(t *testing.T) {
	reg, ok := component.Lookup(component.KindSink, Type)
	if !ok {
		t.Fatal("http sink not registered")
	}
	cfg := reg.NewConfig().(*Config)
	if cfg.Method != "POST" || cfg.Encoding != "ndjson" || cfg.Compression != "none" || !cfg.Healthcheck.Enabled ||
		cfg.Batch != batch.DefaultConfig() || cfg.Request != defaultRequest() || cfg.Request.Concurrency != driver.DefaultConcurrency {
		t.Fatalf("defaults %+v", cfg)
	}
	cfg.URI = "http://127.0.0.1:1/"
	if outs := reg.Outputs(cfg); fmt.Sprint(outs) != "[dead_letter]" {
		t.Fatalf("outputs %v", outs)
	}
	s, err := reg.BuildSink(sinktest.Context(t, Type), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(component.Healthchecker); !ok {
		t.Fatal("the http sink does not implement Healthchecker")
	}
}

func TestRedactsPasswordInURI(t *testing.T) {
	s := build(t, testConfig("https://user:hunter2@logs.example/ingest"))
	if strings.Contains(s.redacted, "hunter2") {
		t.Fatalf("destination %q shows the password", s.redacted)
	}
}

func TestLoadFromHCL(t *testing.T) {
	c, err := sinktest.LoadConfig(t, Type, `
  uri         = "https://logs.example.com:8443/ingest"
  method      = "put"
  encoding    = "json"
  compression = "gzip"
  headers     = { "X-Scope-OrgID" = "platform" }
  connect_timeout = "3s"
  auth {
    strategy = "bearer"
    token    = env("COLLECTOR_TOKEN")
  }
  tls {
    ca_file     = "/etc/drover/ca.pem"
    server_name = "logs.internal"
  }
  batch {
    max_events = 2000
    max_bytes  = "4MiB"
    timeout    = "250ms"
  }
  request {
    concurrency       = 8
    retry_max_backoff = "1m"
  }
  healthcheck { uri = "https://logs.example.com:8443/health" }
`, map[string]string{"COLLECTOR_TOKEN": "tok"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.(*Config)
	want := NewConfig()
	want.URI, want.Method, want.Encoding, want.Compression = "https://logs.example.com:8443/ingest", "put", "json", "gzip"
	want.Headers = map[string]string{"X-Scope-OrgID": "platform"}
	want.ConnectTimeout = 3 * time.Second
	want.Auth = &httpclient.AuthConfig{Strategy: "bearer", Token: "tok"}
	want.TLS = &httpclient.TLSConfig{CAFile: "/etc/drover/ca.pem", ServerName: "logs.internal"}
	want.Batch = batch.Config{MaxEvents: 2000, MaxBytes: 4 << 20, Timeout: 250 * time.Millisecond}
	want.Request.Concurrency, want.Request.RetryMaxBackoff = 8, time.Minute
	want.Healthcheck.URI = "https://logs.example.com:8443/health"
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("decoded\n%+v %+v %+v\nwant\n%+v %+v %+v", cfg, cfg.Auth, cfg.TLS, want, want.Auth, want.TLS)
	}

	for body, wantErr := range map[string]string{
		`method = "GET"`: `the argument "uri" is required`,
		`uri = "http://x"` + "\n" + `method = "GET"`:               `sink.hcl:5,1: invalid method in sink "out"; must be "post" or "put"`,
		`uri = "http://x"` + "\n" + `batch { max_events = 0 }`:     "batch.max_events",
		`uri = "http://x"` + "\n" + `auth { strategy = "digest" }`: `expected one of "basic", "bearer"`,
		`uri = "ftp://x"`: "must be an http:// or https:// url",
		`uri = "http://x"` + "\n" + `encoding = "xml"`: `expected one of "ndjson", "json"`,
	} {
		_, err := sinktest.LoadConfig(t, Type, body, nil)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(wantErr)) {
			t.Errorf("%q: error %v, want one containing %q", body, err, wantErr)
		}
	}
}
