package loki

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/httpclient/httpclienttest"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/loki/lokitest"
)

func lines(entries []lokitest.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Line
	}
	return out
}

func TestTenantsGetAPushEach(t *testing.T) {
	srv := lokitest.New(t)
	srv.MultiTenant = true
	srv.Start()
	cfg := testConfig(srv.URL())
	cfg.Encoding = EncodingText
	cfg.TenantID = "{{ nomad.namespace }}"
	cfg.DefaultTenantID = "fallback"
	m := metrics.ForTest("sink", Type, t.Name())
	r := start(t, build(t, cfg, m, nil))
	a, b := nomadMeta("team-a", "web", "1"), nomadMeta("team-b", "web", "2")
	bare := event.NewMeta("file", event.NewFields(event.Field{Key: "file", Value: event.StringValue("/x")}))
	t0 := time.Unix(1700000000, 0)
	r.send(ev(a, "a1", t0), ev(b, "b1", t0), ev(bare, "f1", t0), ev(a, "a2", t0.Add(1)), ev(b, "b2", t0.Add(1)))
	if !r.ack() {
		t.Fatal("not ok")
	}
	r.close()
	got := map[string][]string{}
	for _, e := range srv.Entries() {
		got[e.Tenant] = append(got[e.Tenant], e.Line)
	}
	if fmt.Sprint(got) != "map[fallback:[f1] team-a:[a1 a2] team-b:[b1 b2]]" {
		t.Fatalf("stored per tenant: %v", got)
	}
	if n := len(srv.Pushes()); n != 3 {
		t.Fatalf("%d pushes for 3 tenants", n)
	}
	if got := testutil.ToFloat64(m.SentEvents); got != 5 {
		t.Fatalf("sent %v", got)
	}
}

func TestTenantRefusedAloneOthersDelivered(t *testing.T) {
	srv := lokitest.New(t)
	srv.MultiTenant = true // events without a tenant get 401 "no org id"
	srv.Start()
	cfg := testConfig(srv.URL())
	cfg.Encoding = EncodingText
	cfg.TenantID = "{{ nomad.namespace }}"
	m := metrics.ForTest("sink", Type, t.Name())
	r := start(t, build(t, cfg, m, nil))
	a := nomadMeta("team-a", "web", "1")
	bare := event.NewMeta("file", event.NewFields(event.Field{Key: "file", Value: event.StringValue("/x")}))
	t0 := time.Unix(1700000000, 0)
	r.send(ev(a, "a1", t0), ev(bare, "f1", t0), ev(bare, "f2", t0), ev(a, "a2", t0))
	if !r.ack() {
		t.Fatal("a rejected batch is released ok")
	}
	r.close()
	if got := lines(srv.Entries()); fmt.Sprint(got) != "[a1 a2]" {
		t.Fatalf("stored %v", got)
	}
	if got := testutil.ToFloat64(m.Discarded("rejected")); got != 2 {
		t.Fatalf("rejected %v", got)
	}
	if got := testutil.ToFloat64(m.SentEvents); got != 2 {
		t.Fatalf("sent %v", got)
	}
	if got := testutil.ToFloat64(m.Retries); got != 0 {
		t.Fatalf("a 401 was retried %v times", got)
	}
}

func TestTooLargeSplitsAndDiscardsAnEntryTooLargeAlone(t *testing.T) {
	srv := lokitest.New(t)
	srv.MaxBodyBytes = 400
	srv.Start()
	cfg := testConfig(srv.URL())
	cfg.Encoding = EncodingText
	logs := &logRecorder{}
	m := metrics.ForTest("sink", Type, t.Name())
	r := start(t, build(t, cfg, m, slog.New(logs)))
	meta := nomadMeta("prod", "web", "1")
	t0 := time.Unix(1700000000, 0)
	var evs []event.Event
	var want []string
	for i := range 10 {
		msg := fmt.Sprintf("line-%02d %s", i, strings.Repeat("x", 40))
		if i == 6 {
			msg = "huge " + strings.Repeat("y", 500)
		} else {
			want = append(want, msg)
		}
		evs = append(evs, ev(meta, msg, t0.Add(time.Duration(i))))
	}
	r.send(evs...)
	if !r.ack() {
		t.Fatal("not ok")
	}
	r.close()
	got := lines(srv.Entries())
	slices.Sort(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored\n%q\nwant\n%q", got, want)
	}
	for _, p := range srv.Pushes() {
		if p.Status == http.StatusNoContent && p.Bytes > srv.MaxBodyBytes {
			t.Fatalf("a push of %d bytes was accepted", p.Bytes)
		}
	}
	if got := testutil.ToFloat64(m.Discarded(ReasonTooLarge)); got != 1 {
		t.Fatalf("discarded too_large %v", got)
	}
	if got := testutil.ToFloat64(m.Discarded("rejected")); got != 0 {
		t.Fatalf("discarded rejected %v", got)
	}
	if got := testutil.ToFloat64(m.SentEvents); got != 9 {
		t.Fatalf("sent %v", got)
	}
	msgs, errs := logs.at(slog.LevelWarn)
	if len(msgs) != 2 || !strings.Contains(msgs[0], "HTTP 413") || !strings.Contains(strings.Join(errs, " "), "too large") {
		t.Fatalf("warnings %q errors %q", msgs, errs)
	}
}

func TestBadRequestIsNotRetriedAndLoggedOnce(t *testing.T) {
	srv := lokitest.New(t)
	srv.MaxLineBytes = 20
	srv.Start()
	cfg := testConfig(srv.URL())
	cfg.Encoding = EncodingText
	cfg.Batch.MaxEvents = 3
	logs := &logRecorder{}
	m := metrics.ForTest("sink", Type, t.Name())
	r := start(t, build(t, cfg, m, slog.New(logs)))
	meta := nomadMeta("prod", "web", "1")
	t0 := time.Unix(1700000000, 0)
	long := strings.Repeat("z", 30)
	r.send(ev(meta, "ok-1", t0), ev(meta, long, t0), ev(meta, "ok-2", t0), ev(meta, long+"!", t0), ev(meta, "ok-3", t0), ev(meta, "ok-4", t0))
	if !r.ack() {
		t.Fatal("not ok")
	}
	r.close()
	// Loki keeps the valid entries of a push it answers 400.
	if got := lines(srv.Entries()); fmt.Sprint(got) != "[ok-1 ok-2 ok-3 ok-4]" {
		t.Fatalf("stored %q", got)
	}
	if n := len(srv.Pushes()); n != 2 {
		t.Fatalf("%d pushes: a 400 was retried", n)
	}
	// Which entries Loki refused is only in its message: the whole push
	// is counted as discarded.
	if got := testutil.ToFloat64(m.Discarded("rejected")); got != 6 {
		t.Fatalf("rejected %v", got)
	}
	if got := testutil.ToFloat64(m.Retries); got != 0 {
		t.Fatalf("retries %v", got)
	}
	_, errs := logs.at(slog.LevelWarn)
	if len(errs) != 1 || !strings.Contains(errs[0], "HTTP 400") || !strings.Contains(errs[0], "line too long") ||
		!strings.Contains(errs[0], srv.URL()) {
		t.Fatalf("logged %q", errs)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	srv := lokitest.New(t).Start()
	first := true
	srv.SetFault(func(p *lokitest.Push) *lokitest.Reply {
		if !first {
			return nil
		}
		first = false
		return &lokitest.Reply{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}},
			Body: "Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec)"}
	})
	cfg := testConfig(srv.URL())
	r := start(t, build(t, cfg, nil, nil))
	r.send(ev(nomadMeta("p", "web", "1"), "x", time.Unix(1700000000, 0)))
	began := time.Now()
	if !r.ack() {
		t.Fatal("not ok")
	}
	if took := time.Since(began); took < 900*time.Millisecond {
		t.Fatalf("retried after %s despite Retry-After: 1", took)
	}
	r.close()
	if n := len(srv.Entries()); n != 1 {
		t.Fatalf("%d entries", n)
	}
}

func TestEntriesArriveSortedAtAnOrderedLoki(t *testing.T) {
	srv := lokitest.New(t)
	srv.OrderedWrites = true
	srv.Start()
	cfg := testConfig(srv.URL())
	cfg.Encoding = EncodingText
	cfg.Batch.MaxEvents = 100
	m := metrics.ForTest("sink", Type, t.Name())
	r := start(t, build(t, cfg, m, nil))
	meta := nomadMeta("p", "web", "1")
	t0 := time.Unix(1700000000, 0)
	r.send(ev(meta, "c", t0.Add(3)), ev(meta, "a", t0.Add(1)), ev(meta, "b", t0.Add(2)))
	if !r.ack() {
		t.Fatal("not ok")
	}
	r.close()
	if got := lines(srv.Entries()); fmt.Sprint(got) != "[a b c]" {
		t.Fatalf("stored %q", got)
	}
	if got := testutil.ToFloat64(m.Discarded("rejected")); got != 0 {
		t.Fatalf("rejected %v", got)
	}
}

func TestAuthHeadersAndMutualTLS(t *testing.T) {
	pki := httpclienttest.NewPKI(t)
	fake := lokitest.New(t)
	srv := pki.NewServer(t, fake, true)
	for _, auth := range []*httpclient.AuthConfig{
		{Strategy: "basic", User: "12345", Password: "glc_token"},
		{Strategy: "bearer", Token: "tok"},
	} {
		cfg := testConfig(srv.URL)
		cfg.Auth = auth
		cfg.TLS = &httpclient.TLSConfig{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}
		cfg.Headers = map[string]string{"X-Custom": "yes"}
		cfg.TenantID = "static-tenant"
		s := build(t, cfg, nil, nil)
		if err := s.Healthcheck(context.Background()); err != nil {
			t.Fatalf("healthcheck over mutual TLS: %v", err)
		}
		r := start(t, s)
		r.send(ev(nomadMeta("p", "web", "1"), "secure", time.Unix(1700000000, 0)))
		if !r.ack() {
			t.Fatal("not ok")
		}
		r.close()
		pushes := fake.Pushes()
		h := pushes[len(pushes)-1].Header
		wantAuth := "Bearer tok"
		if auth.Strategy == "basic" {
			wantAuth = "Basic MTIzNDU6Z2xjX3Rva2Vu"
		}
		if h.Get("Authorization") != wantAuth || h.Get("X-Custom") != "yes" || h.Get("X-Scope-OrgID") != "static-tenant" ||
			h.Get("Content-Type") != "application/x-protobuf" || h.Get("Content-Encoding") != "" {
			t.Fatalf("headers %v", h)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	srv := lokitest.New(t).Start()
	cfg := testConfig(srv.URL())
	s := build(t, cfg, nil, nil)
	defer s.client.CloseIdleConnections()
	if err := s.Healthcheck(context.Background()); err != nil {
		t.Fatalf("ready Loki: %v", err)
	}
	srv.SetReady(false)
	if err := s.Healthcheck(context.Background()); err == nil || !strings.Contains(err.Error(), "503") ||
		!strings.Contains(err.Error(), "Ingester not ready") {
		t.Fatalf("unready Loki: %v", err)
	}
	cfg.Healthcheck.Required = true
	_, err := New(componentContext(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "required healthcheck failed") {
		t.Fatalf("required healthcheck against an unready Loki: %v", err)
	}
	srv.SetReady(true)
	if _, err := New(componentContext(t), cfg); err != nil {
		t.Fatalf("required healthcheck against a ready Loki: %v", err)
	}
	cfg = testConfig(srv.URL())
	cfg.Healthcheck.Path = "/nothing-here"
	if err := build(t, cfg, nil, nil).Healthcheck(context.Background()); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing path: %v", err)
	}
	cfg = testConfig("http://127.0.0.1:1")
	cfg.Healthcheck.Enabled = false
	if err := build(t, cfg, nil, nil).Healthcheck(context.Background()); err != nil {
		t.Fatalf("disabled: %v", err)
	}
}

func TestHighCardinalityLabelsWarnUnlessAllowed(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1")
	cfg.Labels = map[string]string{"job": "{{ nomad.job_name }}", "alloc": "{{ nomad.alloc_id }}", "path": "x-{{ file }}"}
	logs := &logRecorder{}
	build(t, cfg, nil, slog.New(logs))
	_, labels := logs.at(slog.LevelWarn)
	if fmt.Sprint(labels) != "[alloc=nomad.alloc_id path=file]" {
		t.Fatalf("warned about %q", labels)
	}
	cfg.AllowHighCardinalityLabels = true
	logs = &logRecorder{}
	build(t, cfg, nil, slog.New(logs))
	if msgs, _ := logs.at(slog.LevelWarn); len(msgs) != 0 {
		t.Fatalf("warned despite allow_high_cardinality_labels: %q", msgs)
	}
}
