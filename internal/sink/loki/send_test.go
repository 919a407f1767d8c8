package loki

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/httpclient/httpclienttest"
	"github.com/drover-dev/drover/internal/sink/loki/lokitest"
	"github.com/drover-dev/drover/internal/sink/sinktest"
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
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, cfg, cctx))
	a, b := nomadMeta("team-a", "web", "1"), nomadMeta("team-b", "web", "2")
	bare := event.NewMeta("file", event.NewFields(event.Field{Key: "file", Value: event.StringValue("/x")}))
	t0 := time.Unix(1700000000, 0)
	r.Send(ev(a, "a1", t0), ev(b, "b1", t0), ev(bare, "f1", t0), ev(a, "a2", t0.Add(1)), ev(b, "b2", t0.Add(1)))
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
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

func TestTenantRefusedWaitsOthersDelivered(t *testing.T) {
	srv := lokitest.New(t)
	srv.MultiTenant = true
	srv.Start()
	var fixed atomic.Bool
	srv.SetFault(func(p *lokitest.Push) *lokitest.Reply {
		if p.Tenant == "team-b" && !fixed.Load() {
			return &lokitest.Reply{Status: http.StatusUnauthorized, Body: "tenant team-b: invalid token"}
		}
		return nil
	})
	cfg := testConfig(srv.URL())
	cfg.Encoding = EncodingText
	cfg.TenantID = "{{ nomad.namespace }}"
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, cfg, cctx))
	a, b := nomadMeta("team-a", "web", "1"), nomadMeta("team-b", "web", "2")
	t0 := time.Unix(1700000000, 0)
	r.Send(ev(a, "a1", t0), ev(b, "b1", t0), ev(b, "b2", t0), ev(a, "a2", t0))
	sinktest.WaitFor(t, "team-a's entries", func() bool { return len(srv.Entries()) == 2 })
	sinktest.WaitFor(t, "refused pushes of team-b", func() bool { return testutil.ToFloat64(m.DeliveryFailures("unauthorized")) >= 2 })
	if _, released := r.Acked(); released {
		t.Fatal("the batch was released while team-b's entries were refused")
	}
	fixed.Store(true)
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	if got := lines(srv.Entries()); fmt.Sprint(got) != "[a1 a2 b1 b2]" {
		t.Fatalf("stored %v", got)
	}
	if got := sinktest.SumDiscarded(t, m); got != 0 {
		t.Fatalf("discarded %v", got)
	}
	if got := testutil.ToFloat64(m.SentEvents); got != 4 {
		t.Fatalf("sent %v", got)
	}
}

func TestTooLargeSplitsAndDiscardsAnEntryTooLargeAlone(t *testing.T) {
	srv := lokitest.New(t)
	srv.MaxBodyBytes = 400
	srv.Start()
	cfg := testConfig(srv.URL())
	cfg.Encoding = EncodingText
	cctx, logs, _ := sinktest.Recorded(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, cfg, cctx))
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
	r.Send(evs...)
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
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
	if got := sinktest.SumDiscarded(t, m); got != 1 {
		t.Fatalf("discarded %v", got)
	}
	if got := testutil.ToFloat64(m.SentEvents); got != 9 {
		t.Fatalf("sent %v", got)
	}
	var warned int
	for _, ln := range logs.Lines(slog.LevelWarn) {
		if strings.Contains(ln.Message, "too large") && strings.Contains(ln.Attrs["error"], "HTTP 413") {
			warned++
		}
	}
	if warned != 1 {
		t.Fatalf("%d warnings about the size: %+v", warned, logs.Lines(slog.LevelWarn))
	}
}

func TestBadRequestIsBisectedToTheRefusedEntries(t *testing.T) {
	srv := lokitest.New(t)
	srv.MaxLineBytes = 20
	srv.Start()
	cfg := testConfig(srv.URL())
	cfg.Encoding = EncodingText
	cfg.Batch.MaxEvents = 3
	cctx, logs, dead := sinktest.Recorded(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, cfg, cctx))
	meta := nomadMeta("prod", "web", "1")
	t0 := time.Unix(1700000000, 0)
	long := strings.Repeat("z", 30)
	r.Send(ev(meta, "ok-1", t0), ev(meta, long, t0), ev(meta, "ok-2", t0), ev(meta, long+"!", t0), ev(meta, "ok-3", t0), ev(meta, "ok-4", t0))
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	// Loki keeps the valid entries of a push it answers 400, and ignores
	// them when they come again in the halves.
	if got := lines(srv.Entries()); fmt.Sprint(got) != "[ok-1 ok-2 ok-3 ok-4]" {
		t.Fatalf("stored %q", got)
	}
	if got := testutil.ToFloat64(m.Discarded(ReasonLineTooLong)); got != 2 {
		t.Fatalf("discarded line_too_long %v", got)
	}
	if got := sinktest.SumDiscarded(t, m); got != 2 {
		t.Fatalf("discarded %v", got)
	}
	if got := testutil.ToFloat64(m.Retries); got != 0 {
		t.Fatalf("retries %v", got)
	}
	letters := dead.Letters()
	if len(letters) != 2 || letters[0].Message != long || letters[0].Reason != ReasonLineTooLong || letters[0].Status != 400 ||
		!strings.Contains(letters[0].Error, "line too long") {
		t.Fatalf("dead letters %+v", letters)
	}
	errs := logs.Lines(slog.LevelWarn)
	if len(errs) != 1 || !strings.Contains(errs[0].Attrs["error"], "HTTP 400") || !strings.Contains(errs[0].Attrs["error"], "line too long") ||
		!strings.Contains(errs[0].Attrs["error"], srv.URL()) {
		t.Fatalf("logged %+v", errs)
	}
}

func TestReasonOfLokisMessages(t *testing.T) {
	for msg, want := range map[string]string{
		"entry for stream '{job=\"x\"}' has timestamp too old: 2023-11-14T22:13:20Z, oldest acceptable timestamp is: 2024-05-01T00:00:00Z": ReasonTooOld,
		"entry for stream '{job=\"x\"}' has timestamp too new: 2030-01-01T00:00:00Z":                                                       ReasonTooNew,
		"entry with timestamp 2024-05-01 00:00:00 +0000 UTC ignored, reason: 'entry out of order' for stream: {job=\"x\"}":                 ReasonOutOfOrder,
		"entry too far behind, entry timestamp is: 2024-05-01T00:00:00Z, oldest acceptable timestamp is: 2024-05-01T01:00:00Z":             ReasonOutOfOrder,
		"Max entry size '256' bytes exceeded for stream '{job=\"x\"}' while adding an entry with length '300' bytes":                       ReasonLineTooLong,
		"error parsing labels '{job=x}': 1:6: parse error":                                                                                 ReasonBadLabels,
		"stream '{job=\"x\"}' has too many structured metadata labels":                                                                     ReasonBadMetadata,
		"couldn't decode push request": "bad_request",
	} {
		if got := reasonOf(msg); got != want {
			t.Errorf("reasonOf(%q) = %s, want %s", msg, got, want)
		}
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
	r := sinktest.Start(t, build(t, cfg))
	r.Send(ev(nomadMeta("p", "web", "1"), "x", time.Unix(1700000000, 0)))
	began := time.Now()
	if !r.Ack() {
		t.Fatal("not ok")
	}
	if took := time.Since(began); took < 900*time.Millisecond {
		t.Fatalf("retried after %s despite Retry-After: 1", took)
	}
	r.Close()
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
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, cfg, cctx))
	meta := nomadMeta("p", "web", "1")
	t0 := time.Unix(1700000000, 0)
	r.Send(ev(meta, "c", t0.Add(3)), ev(meta, "a", t0.Add(1)), ev(meta, "b", t0.Add(2)))
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	if got := lines(srv.Entries()); fmt.Sprint(got) != "[a b c]" {
		t.Fatalf("stored %q", got)
	}
	if got := sinktest.SumDiscarded(t, m); got != 0 {
		t.Fatalf("discarded %v", got)
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
		s := build(t, cfg)
		if err := s.Healthcheck(context.Background()); err != nil {
			t.Fatalf("healthcheck over mutual TLS: %v", err)
		}
		r := sinktest.Start(t, s)
		r.Send(ev(nomadMeta("p", "web", "1"), "secure", time.Unix(1700000000, 0)))
		if !r.Ack() {
			t.Fatal("not ok")
		}
		r.Close()
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
	s := build(t, cfg)
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
	_, err := New(sinktest.Context(t, Type), cfg)
	if err == nil || !strings.Contains(err.Error(), "required healthcheck failed") {
		t.Fatalf("required healthcheck against an unready Loki: %v", err)
	}
	srv.SetReady(true)
	if _, err := New(sinktest.Context(t, Type), cfg); err != nil {
		t.Fatalf("required healthcheck against a ready Loki: %v", err)
	}
	cfg = testConfig(srv.URL())
	cfg.Healthcheck.Path = "/nothing-here"
	if err := build(t, cfg).Healthcheck(context.Background()); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing path: %v", err)
	}
	cfg = testConfig("http://127.0.0.1:1")
	cfg.Healthcheck.Enabled = false
	if err := build(t, cfg).Healthcheck(context.Background()); err != nil {
		t.Fatalf("disabled: %v", err)
	}
}

func TestHighCardinalityLabelsWarnUnlessAllowed(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1")
	cfg.Labels = map[string]string{"job": "{{ nomad.job_name }}", "alloc": "{{ nomad.alloc_id }}", "path": "x-{{ file }}"}
	cctx, logs, _ := sinktest.Recorded(t, Type)
	build(t, cfg, cctx)
	var labels []string
	for _, ln := range logs.Lines(slog.LevelWarn) {
		labels = append(labels, ln.Attrs["label"])
	}
	if fmt.Sprint(labels) != "[alloc=nomad.alloc_id path=file]" {
		t.Fatalf("warned about %q", labels)
	}
	cfg.AllowHighCardinalityLabels = true
	cctx, logs, _ = sinktest.Recorded(t, Type)
	build(t, cfg, cctx)
	if msgs := logs.Messages(slog.LevelWarn); len(msgs) != 0 {
		t.Fatalf("warned despite allow_high_cardinality_labels: %q", msgs)
	}
}
