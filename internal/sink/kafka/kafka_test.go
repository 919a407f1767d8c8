package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/httpclient/httpclienttest"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func TestTopicPerNamespaceKeyAndHeaders(t *testing.T) {
	c := newCluster(t, map[string]int32{"logs-default": 4, "logs-batch": 4, "logs-other": 1})
	cfg := testConfig(c, "logs-{{ nomad.namespace }}")
	cfg.DefaultTopic = "logs-other"
	cfg.Key = "{{ nomad.alloc_id }}"
	cfg.Headers = map[string]string{"job": "{{ nomad.job_name }}", "region": "{{ nomad.region }}", "source": "drover"}
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := start(t, c, build(t, cfg, cctx))
	web, backup := nomadMeta("default", "web", "alloc-web"), nomadMeta("batch", "backup", "alloc-backup")
	orphan := nomadMeta("", "lost", "alloc-lost")
	var evs []event.Event
	for i := range 30 {
		evs = append(evs, events([]*event.Meta{web, backup, orphan}[i%3], fmt.Sprintf("line %02d", i))...)
	}
	r.Send(evs[:15]...)
	r.Send(evs[15:]...)
	if !r.Ack() || !r.Ack() {
		t.Fatal("not delivered")
	}
	r.Close()

	check := func(topic string, partitions int32, key, job string, want []string) {
		t.Helper()
		rs := c.consume(topic, partitions)
		if got := messages(t, rs); !slices.Equal(got, want) {
			t.Fatalf("%s: messages %q, want %q (one key: one partition, in order)", topic, got, want)
		}
		for _, rec := range rs {
			if string(rec.Key) != key {
				t.Errorf("%s: key %q", topic, rec.Key)
			}
			if v, _ := header(rec, "job"); v != job {
				t.Errorf("%s: job header %q", topic, v)
			}
			if v, _ := header(rec, "source"); v != "drover" {
				t.Errorf("%s: constant header %q", topic, v)
			}
			if _, ok := header(rec, "region"); ok {
				t.Errorf("%s: a header whose field is missing was sent", topic)
			}
			var v map[string]any
			if err := json.Unmarshal(rec.Value, &v); err != nil || v["host"] != "node-1" || v["timestamp"] == nil ||
				v["nomad"].(map[string]any)["job_name"] != job {
				t.Errorf("%s: value %s", topic, rec.Value)
			}
			if age := time.Since(rec.Timestamp); age < 0 || age > time.Minute {
				t.Errorf("%s: record timestamp %s is not the time it was produced", topic, rec.Timestamp)
			}
		}
	}
	var wantWeb, wantBackup, wantOther []string
	for i := range 30 {
		msg := fmt.Sprintf("line %02d", i)
		switch i % 3 {
		case 0:
			wantWeb = append(wantWeb, msg)
		case 1:
			wantBackup = append(wantBackup, msg)
		default:
			wantOther = append(wantOther, msg)
		}
	}
	check("logs-default", 4, "alloc-web", "web", wantWeb)
	check("logs-batch", 4, "alloc-backup", "backup", wantBackup)
	check("logs-other", 1, "alloc-lost", "lost", wantOther)
	if got := testutil.ToFloat64(m.SentEvents); got != 30 {
		t.Fatalf("sent %v", got)
	}
}

func TestTextEncodingAndCompression(t *testing.T) {
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			c := newCluster(t, map[string]int32{"logs": 1})
			cfg := testConfig(c, "logs")
			cfg.Encoding, cfg.Compression = "text", codec
			r := start(t, c, build(t, cfg))
			msgs := []string{"plain text", `{"not":"wrapped"}`, strings.Repeat("compressible ", 200)}
			r.Send(events(nomadMeta("default", "web", "a"), msgs...)...)
			if !r.Ack() {
				t.Fatal("not delivered")
			}
			r.Close()
			rs := c.consume("logs", 1)
			var got []string
			for _, rec := range rs {
				got = append(got, string(rec.Value))
				if rec.Key != nil {
					t.Errorf("key %q without a key template", rec.Key)
				}
			}
			if !slices.Equal(got, msgs) {
				t.Fatalf("values %q", got)
			}
		})
	}
}

func TestEventsWithoutATopicAreDeadLettered(t *testing.T) {
	c := newCluster(t, map[string]int32{"logs-default": 1})
	cctx, logs, dead := sinktest.Recorded(t, Type)
	m := cctx.Metrics
	dead.Hold()
	r := start(t, c, build(t, testConfig(c, "logs-{{ nomad.namespace }}"), cctx))
	evs := events(nomadMeta("default", "web", "a"), "routed")
	evs = append(evs, events(nomadMeta("", "web", "b"), "no namespace")...)
	evs = append(evs, events(nomadMeta("bad/name", "web", "c"), "invalid topic")...)
	r.Send(evs...)
	sinktest.WaitFor(t, "the dead letters", func() bool { return len(dead.Letters()) == 2 })
	if _, released := r.Acked(); released {
		t.Fatal("the batch was released before its dead letters were delivered")
	}
	dead.Release()
	if !r.Ack() {
		t.Fatal("a batch with refused events is released ok (rejected)")
	}
	r.Close()
	if got := messages(t, c.consume("logs-default", 1)); !slices.Equal(got, []string{"routed"}) {
		t.Fatalf("got %q", got)
	}
	if d := testutil.ToFloat64(m.Discarded(ReasonInvalidTopic)); d != 2 {
		t.Fatalf("discarded %v", d)
	}
	var got []string
	for _, l := range dead.Letters() {
		got = append(got, l.Message+": "+l.Reason)
	}
	if fmt.Sprint(got) != "[no namespace: invalid_topic invalid topic: invalid_topic]" {
		t.Fatalf("dead letters %q", got)
	}
	errs := logs.Lines(slog.LevelError)
	if len(errs) != 1 || !strings.Contains(errs[0].Attrs["error"], "nomad.namespace") {
		t.Fatalf("errors logged (once per run, naming the field): %+v", errs)
	}
}

func TestRefusedRecordsAreDeadLettered(t *testing.T) {
	c := newCluster(t, map[string]int32{"logs": 1})
	cfg := testConfig(c, "logs")
	cfg.Batch.MaxBytes = 1024
	cctx, logs, dead := sinktest.Recorded(t, Type)
	m := cctx.Metrics
	r := start(t, c, build(t, cfg, cctx))
	huge := strings.Repeat("x", 2000)
	r.Send(events(nomadMeta("default", "web", "a"), "small", huge, "small too")...)
	if !r.Ack() {
		t.Fatal("not released ok")
	}
	r.Close()
	if got := messages(t, c.consume("logs", 1)); !slices.Equal(got, []string{"small", "small too"}) {
		t.Fatalf("got %q", got)
	}
	if d, retries := testutil.ToFloat64(m.Discarded("too_large")), testutil.ToFloat64(m.Retries); d != 1 || retries != 0 {
		t.Fatalf("discarded %v retries %v", d, retries)
	}
	if l := dead.Letters(); len(l) != 1 || l[0].Message != huge || l[0].Reason != "too_large" || !strings.Contains(l[0].Error, "MESSAGE_TOO_LARGE") {
		t.Fatalf("dead letters %+v", l)
	}
	if errs := logs.Lines(slog.LevelError); len(errs) != 1 || !strings.Contains(errs[0].Attrs["error"], "MESSAGE_TOO_LARGE") {
		t.Fatalf("errors %+v", errs)
	}
}

// TestConnectionDropsAreRetriedWithoutDuplicates: the broker closes the
// connection instead of answering produce requests; the idempotent
// producer retries and every record arrives once.
func TestConnectionDropsAreRetriedWithoutDuplicates(t *testing.T) {
	c := newCluster(t, map[string]int32{"logs": 2})
	c.dropConnections(3)
	cfg := testConfig(c, "logs")
	cfg.Key = "{{ nomad.alloc_id }}"
	r := start(t, c, build(t, cfg))
	var want []string
	for b := range 5 {
		msgs := make([]string, 100)
		for i := range msgs {
			msgs[i] = fmt.Sprintf("b%d-%03d", b, i)
		}
		want = append(want, msgs...)
		r.Send(events(nomadMeta("default", "web", "alloc"), msgs...)...)
	}
	for range 5 {
		if !r.Ack() {
			t.Fatal("not delivered")
		}
	}
	r.Close()
	if got := messages(t, c.consume("logs", 2)); !slices.Equal(got, want) {
		t.Fatalf("got %d records, want %d exactly once and in order", len(got), len(want))
	}
	if c.produceRequests() < 4 {
		t.Fatalf("%d produce requests: the drops did not happen", c.produceRequests())
	}
}

// TestDeliveryTimeoutIsRetriedBySink: the brokers fail produce requests
// for longer than delivery_timeout; the client gives the records back,
// the sink logs once, backs off, produces them again, and they arrive once
// when the brokers recover. Nothing is discarded.
func TestDeliveryTimeoutIsRetriedBySink(t *testing.T) {
	c := newCluster(t, map[string]int32{"logs": 1})
	c.setProduceError(kerr.NotEnoughReplicas.Code)
	cctx, logs, _ := sinktest.Recorded(t, Type)
	m := cctx.Metrics
	r := start(t, c, build(t, testConfig(c, "logs"), cctx))
	r.Send(events(nomadMeta("default", "web", "a"), "one", "two", "three")...)
	sinktest.WaitFor(t, "two rounds of timed-out records", func() bool { return testutil.ToFloat64(m.Errors("send")) >= 6 })
	if _, released := r.Acked(); released {
		t.Fatal("acknowledged while the brokers refused")
	}
	c.setProduceError(0)
	if !r.Ack() {
		t.Fatal("not delivered")
	}
	r.Close()
	if got := messages(t, c.consume("logs", 1)); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("got %q", got)
	}
	if retries := testutil.ToFloat64(m.Retries); retries < 6 {
		t.Fatalf("retries %v", retries)
	}
	if d := sinktest.SumDiscarded(t, m); d != 0 {
		t.Fatalf("discarded %v", d)
	}
	var warns []string
	for _, ln := range logs.Lines(slog.LevelWarn) {
		if ln.Level == slog.LevelWarn {
			warns = append(warns, ln.Attrs["error"])
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "timed out") {
		t.Fatalf("warnings (once per run): %q", warns)
	}
	if !slices.Contains(logs.Messages(slog.LevelInfo), "sending works again") {
		t.Fatalf("the end of the run was not logged: %q", logs.Messages(slog.LevelInfo))
	}
}

func TestSASLAndTLS(t *testing.T) {
	pki := httpclienttest.NewPKI(t)
	// The PKI's server certificate, by way of an HTTPS server's TLS
	// configuration.
	serverTLS := pki.NewServer(t, nil, false).TLS.Clone()
	for _, mech := range []struct{ name, kfake string }{
		{SASLPlain, "PLAIN"}, {SASLScramSHA256, "SCRAM-SHA-256"}, {SASLScramSHA512, "SCRAM-SHA-512"},
	} {
		t.Run(mech.name, func(t *testing.T) {
			c := newCluster(t, map[string]int32{"logs": 1}, kfake.EnableSASL(), kfake.Superuser(mech.kfake, "drover", "s3cret"),
				kfake.TLS(serverTLS))
			cfg := testConfig(c, "logs")
			cfg.SASL = &SASLConfig{Mechanism: mech.name, Username: "drover", Password: "s3cret"}
			cfg.TLS = &httpclient.TLSConfig{CAFile: pki.CAFile, ServerName: pki.ServerName}
			s := build(t, cfg)
			if err := s.Healthcheck(context.Background()); err != nil {
				t.Fatalf("healthcheck: %v", err)
			}
			r := start(t, c, s)
			r.Send(events(nomadMeta("default", "web", "a"), "secure")...)
			if !r.Ack() {
				t.Fatal("not delivered")
			}
			r.Close()
			if mech.name != SASLPlain {
				return
			}
			wrong := testConfig(c, "logs")
			wrong.SASL = &SASLConfig{Mechanism: mech.name, Username: "drover", Password: "wrong"}
			wrong.TLS = cfg.TLS
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := build(t, wrong).Healthcheck(ctx); err == nil {
				t.Fatal("healthcheck with a wrong password passed")
			}
			untrusted := testConfig(c, "logs")
			untrusted.SASL = cfg.SASL
			if err := build(t, untrusted).Healthcheck(ctx); err == nil {
				t.Fatal("healthcheck without TLS against a TLS listener passed")
			}
		})
	}
	// A wrong password fails records transiently: they wait for a fixed
	// configuration instead of being discarded.
	t.Run("wrong password keeps records", func(t *testing.T) {
		c := newCluster(t, map[string]int32{"logs": 1}, kfake.EnableSASL(), kfake.Superuser("PLAIN", "drover", "s3cret"))
		cfg := testConfig(c, "logs")
		cfg.SASL = &SASLConfig{Mechanism: SASLPlain, Username: "drover", Password: "wrong"}
		cctx := sinktest.Context(t, Type)
		m := cctx.Metrics
		r := start(t, c, build(t, cfg, cctx))
		r.Send(events(nomadMeta("default", "web", "a"), "x")...)
		sinktest.WaitFor(t, "failed records", func() bool { return testutil.ToFloat64(m.Errors("send")) >= 2 })
		if d := sinktest.SumDiscarded(t, m); d != 0 {
			t.Fatalf("discarded %v on an authentication failure", d)
		}
		// kfake closes the connection of a failed authentication: the
		// client sees the records time out (a broker answering
		// SASL_AUTHENTICATION_FAILED gives reason "unauthorized").
		if c := cctx.Health.Conditions(); len(c) != 1 || c[0].State != health.Failing {
			t.Fatalf("health %+v", c)
		}
	})
}

func TestHealthcheck(t *testing.T) {
	c := newCluster(t, map[string]int32{"logs": 1})
	if err := build(t, testConfig(c, "logs")).Healthcheck(context.Background()); err != nil {
		t.Fatalf("existing topic: %v", err)
	}
	if err := build(t, testConfig(c, "logs-{{ nomad.namespace }}")).Healthcheck(context.Background()); err != nil {
		t.Fatalf("templated topic: %v", err)
	}
	err := build(t, testConfig(c, "nope")).Healthcheck(context.Background())
	if err == nil || !strings.Contains(err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("missing topic: %v", err)
	}
	withDefault := testConfig(c, "logs-{{ nomad.namespace }}")
	withDefault.DefaultTopic = "missing-default"
	if err := build(t, withDefault).Healthcheck(context.Background()); err == nil {
		t.Fatal("a missing default topic passed")
	}

	required := testConfig(c, "nope")
	required.Healthcheck.Required = true
	if _, err := New(component.Context{Kind: component.KindSink, Type: Type, ID: "x"}, required); err == nil ||
		!strings.Contains(err.Error(), "healthcheck.required") {
		t.Fatalf("a required check that fails must fail the build: %v", err)
	}
	required.Topic = "logs"
	if _, err := New(component.Context{Kind: component.KindSink, Type: Type, ID: "x"}, required); err != nil {
		t.Fatalf("a required check that passes: %v", err)
	}
	disabled := testConfig(c, "nope")
	disabled.Healthcheck.Enabled = false
	if err := build(t, disabled).Healthcheck(context.Background()); err != nil {
		t.Fatalf("disabled check: %v", err)
	}
}

// TestBackpressure: while the brokers fail, the sink holds at most a
// bounded number of records and stops taking input.
func TestBackpressure(t *testing.T) {
	c := newCluster(t, map[string]int32{"logs": 1})
	c.setProduceError(kerr.NotEnoughReplicas.Code)
	cfg := testConfig(c, "logs")
	cfg.MaxBufferedRecords = 10
	r := start(t, c, build(t, cfg))
	taken := make(chan int, 1)
	go func() {
		n := 0
		defer func() { taken <- n }()
		for range 20 {
			if !r.Offer(3*time.Second, events(nomadMeta("default", "web", "a"), "a", "b", "c", "d", "e")...) {
				return
			}
			n++
		}
	}()
	if n := <-taken; n >= 20 {
		t.Fatalf("the sink took all %d batches while the brokers refused", n)
	} else {
		t.Logf("took %d batches of 5 with max_buffered_records 10", n)
	}
	c.setProduceError(0)
}
