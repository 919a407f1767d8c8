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
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/httpclient/httpclienttest"
	"github.com/drover-dev/drover/internal/metrics"
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
	m := metrics.ForTest("sink", Type, t.Name())
	r := start(t, c, build(t, cfg, m, nil))
	web, backup := nomadMeta("default", "web", "alloc-web"), nomadMeta("batch", "backup", "alloc-backup")
	orphan := nomadMeta("", "lost", "alloc-lost")
	var evs []event.Event
	for i := range 30 {
		evs = append(evs, events([]*event.Meta{web, backup, orphan}[i%3], fmt.Sprintf("line %02d", i))...)
	}
	r.send(evs[:15]...)
	r.send(evs[15:]...)
	if !r.ack() || !r.ack() {
		t.Fatal("not delivered")
	}
	r.close()

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
			r := start(t, c, build(t, cfg, nil, nil))
			msgs := []string{"plain text", `{"not":"wrapped"}`, strings.Repeat("compressible ", 200)}
			r.send(events(nomadMeta("default", "web", "a"), msgs...)...)
			if !r.ack() {
				t.Fatal("not delivered")
			}
			r.close()
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

func TestEventsWithoutATopicAreDiscarded(t *testing.T) {
	c := newCluster(t, map[string]int32{"logs-default": 1})
	logs := &logRecorder{}
	m := metrics.ForTest("sink", Type, t.Name())
	r := start(t, c, build(t, testConfig(c, "logs-{{ nomad.namespace }}"), m, slog.New(logs)))
	evs := events(nomadMeta("default", "web", "a"), "routed")
	evs = append(evs, events(nomadMeta("", "web", "b"), "no namespace")...)
	evs = append(evs, events(nomadMeta("bad/name", "web", "c"), "invalid topic")...)
	r.send(evs...)
	if !r.ack() {
		t.Fatal("a batch with discarded events is released ok (rejected)")
	}
	r.close()
	if got := messages(t, c.consume("logs-default", 1)); !slices.Equal(got, []string{"routed"}) {
		t.Fatalf("got %q", got)
	}
	if d := testutil.ToFloat64(m.Discarded(ReasonRejected)); d != 2 {
		t.Fatalf("discarded %v", d)
	}
	errs := logs.at(slog.LevelError)
	if len(errs) != 1 || !strings.Contains(errs[0], "nomad.namespace") {
		t.Fatalf("errors logged (once per streak, naming the field): %q", errs)
	}
}

func TestRecordTooLargeIsDiscardedNotRetried(t *testing.T) {
	c := newCluster(t, map[string]int32{"logs": 1})
	cfg := testConfig(c, "logs")
	cfg.Batch.MaxBytes = 1024
	logs := &logRecorder{}
	m := metrics.ForTest("sink", Type, t.Name())
	r := start(t, c, build(t, cfg, m, slog.New(logs)))
	r.send(events(nomadMeta("default", "web", "a"), "small", strings.Repeat("x", 2000), "small too")...)
	if !r.ack() {
		t.Fatal("not released ok")
	}
	r.close()
	if got := messages(t, c.consume("logs", 1)); !slices.Equal(got, []string{"small", "small too"}) {
		t.Fatalf("got %q", got)
	}
	if d, retries := testutil.ToFloat64(m.Discarded(ReasonRejected)), testutil.ToFloat64(m.Retries); d != 1 || retries != 0 {
		t.Fatalf("discarded %v retries %v", d, retries)
	}
	if errs := logs.at(slog.LevelError); len(errs) != 1 || !strings.Contains(errs[0], "MESSAGE_TOO_LARGE") {
		t.Fatalf("errors %q", errs)
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
	r := start(t, c, build(t, cfg, nil, nil))
	var want []string
	for b := range 5 {
		msgs := make([]string, 100)
		for i := range msgs {
			msgs[i] = fmt.Sprintf("b%d-%03d", b, i)
		}
		want = append(want, msgs...)
		r.send(events(nomadMeta("default", "web", "alloc"), msgs...)...)
	}
	for range 5 {
		if !r.ack() {
			t.Fatal("not delivered")
		}
	}
	r.close()
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
	logs := &logRecorder{}
	m := metrics.ForTest("sink", Type, t.Name())
	r := start(t, c, build(t, testConfig(c, "logs"), m, slog.New(logs)))
	r.send(events(nomadMeta("default", "web", "a"), "one", "two", "three")...)
	waitFor(t, "two rounds of timed-out records", func() bool { return testutil.ToFloat64(m.Errors("send")) >= 6 })
	select {
	case <-r.acks:
		t.Fatal("acknowledged while the brokers refused")
	default:
	}
	c.setProduceError(0)
	if !r.ack() {
		t.Fatal("not delivered")
	}
	r.close()
	if got := messages(t, c.consume("logs", 1)); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("got %q", got)
	}
	if retries := testutil.ToFloat64(m.Retries); retries < 6 {
		t.Fatalf("retries %v", retries)
	}
	if d := testutil.ToFloat64(m.Discarded(ReasonRejected)); d != 0 {
		t.Fatalf("discarded %v", d)
	}
	warns, infos := logs.at(slog.LevelWarn), logs.at(slog.LevelInfo)
	if len(warns) != 1 || !strings.Contains(warns[0], "timed out") {
		t.Fatalf("warnings (once per streak): %q", warns)
	}
	if !slices.ContainsFunc(infos, func(s string) bool { return strings.HasPrefix(s, "producing works again") }) {
		t.Fatalf("the end of the streak was not logged: %q", infos)
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
			s := build(t, cfg, nil, nil)
			if err := s.Healthcheck(context.Background()); err != nil {
				t.Fatalf("healthcheck: %v", err)
			}
			r := start(t, c, s)
			r.send(events(nomadMeta("default", "web", "a"), "secure")...)
			if !r.ack() {
				t.Fatal("not delivered")
			}
			r.close()
			if mech.name != SASLPlain {
				return
			}
			wrong := testConfig(c, "logs")
			wrong.SASL = &SASLConfig{Mechanism: mech.name, Username: "drover", Password: "wrong"}
			wrong.TLS = cfg.TLS
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := build(t, wrong, nil, nil).Healthcheck(ctx); err == nil {
				t.Fatal("healthcheck with a wrong password passed")
			}
			untrusted := testConfig(c, "logs")
			untrusted.SASL = cfg.SASL
			if err := build(t, untrusted, nil, nil).Healthcheck(ctx); err == nil {
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
		m := metrics.ForTest("sink", Type, t.Name())
		r := start(t, c, build(t, cfg, m, nil))
		r.send(events(nomadMeta("default", "web", "a"), "x")...)
		waitFor(t, "failed records", func() bool { return testutil.ToFloat64(m.Errors("send")) >= 2 })
		if d := testutil.ToFloat64(m.Discarded(ReasonRejected)); d != 0 {
			t.Fatalf("discarded %v on an authentication failure", d)
		}
	})
}

func TestHealthcheck(t *testing.T) {
	c := newCluster(t, map[string]int32{"logs": 1})
	if err := build(t, testConfig(c, "logs"), nil, nil).Healthcheck(context.Background()); err != nil {
		t.Fatalf("existing topic: %v", err)
	}
	if err := build(t, testConfig(c, "logs-{{ nomad.namespace }}"), nil, nil).Healthcheck(context.Background()); err != nil {
		t.Fatalf("templated topic: %v", err)
	}
	err := build(t, testConfig(c, "nope"), nil, nil).Healthcheck(context.Background())
	if err == nil || !strings.Contains(err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("missing topic: %v", err)
	}
	withDefault := testConfig(c, "logs-{{ nomad.namespace }}")
	withDefault.DefaultTopic = "missing-default"
	if err := build(t, withDefault, nil, nil).Healthcheck(context.Background()); err == nil {
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
	if err := build(t, disabled, nil, nil).Healthcheck(context.Background()); err != nil {
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
	m := metrics.ForTest("sink", Type, t.Name())
	r := start(t, c, build(t, cfg, m, nil))
	taken := make(chan int, 1)
	go func() {
		n := 0
		defer func() { taken <- n }()
		for range 20 {
			b := &event.Batch{Events: events(nomadMeta("default", "web", "a"), "a", "b", "c", "d", "e"), Ack: event.NewAck(nil)}
			select {
			case r.in <- b:
				n++
			case <-time.After(3 * time.Second):
				return
			}
		}
	}()
	if n := <-taken; n >= 20 {
		t.Fatalf("the sink took all %d batches while the brokers refused", n)
	} else {
		t.Logf("took %d batches of 5 with max_buffered_records 10", n)
	}
	c.setProduceError(0)
}
