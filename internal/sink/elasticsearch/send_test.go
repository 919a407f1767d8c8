package elasticsearch

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/httpclient/httpclienttest"
	"github.com/drover-dev/drover/internal/sink/elasticsearch/estest"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

func messages(docs []estest.Doc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i], _ = d.Fields["message"].(string)
	}
	return out
}

func itemMessages(b estest.Bulk) []string {
	out := make([]string, len(b.Items))
	for i, it := range b.Items {
		out[i], _ = it.Fields["message"].(string)
	}
	return out
}

func TestPartialBulkFailureRetriesOnlyTransientItems(t *testing.T) {
	for _, flavor := range []estest.Flavor{estest.Elasticsearch8, estest.OpenSearch2} {
		t.Run(fmt.Sprint(flavor), func(t *testing.T) {
			srv := estest.New(t, flavor).Start()
			busy := map[string]bool{}
			srv.SetItemFault(func(it *estest.Item) *estest.ItemError {
				msg, _ := it.Fields["message"].(string)
				switch {
				case strings.HasPrefix(msg, "bad"):
					return &estest.ItemError{Status: 400, Type: "document_parsing_exception",
						Reason: `[1:42] failed to parse field [status] of type [long] in document with id 'x'. Preview of field's value: 'ok "quoted"'`}
				case strings.HasPrefix(msg, "busy") && !busy[msg]:
					busy[msg] = true
					return &estest.ItemError{Status: 429, Type: "es_rejected_execution_exception", Reason: "rejected execution of primary operation"}
				}
				return nil
			})
			cfg := testConfig(srv.URL())
			cctx, logs, dead := sinktest.Recorded(t, Type)
			m := cctx.Metrics
			r := sinktest.Start(t, build(t, cfg, cctx))
			meta := nomadMeta("prod", "web")
			r.Send(ev(meta, "ok-1"), ev(meta, "bad-1"), ev(meta, "busy-1"), ev(meta, "ok-2"), ev(meta, "busy-2"), ev(meta, "bad-2"))
			if !r.Ack() {
				t.Fatal("a batch with refused documents is released ok (rejected)")
			}
			r.Close()
			if got := messages(srv.Docs()); fmt.Sprint(got) != "[ok-1 ok-2 busy-1 busy-2]" {
				t.Fatalf("stored %q", got)
			}
			bulks := srv.Bulks()
			if len(bulks) != 2 || fmt.Sprint(itemMessages(bulks[1])) != "[busy-1 busy-2]" {
				t.Fatalf("requests: %d, the retry carried %q", len(bulks), itemMessages(bulks[len(bulks)-1]))
			}
			if got := testutil.ToFloat64(m.Discarded("document_parsing_exception")); got != 2 {
				t.Fatalf("discarded{reason=document_parsing_exception} = %v", got)
			}
			if got := testutil.ToFloat64(m.Discarded("rejected")); got != 0 {
				t.Fatalf("discarded{reason=rejected} = %v", got)
			}
			if got := testutil.ToFloat64(m.SentEvents); got != 4 {
				t.Fatalf("sent %v", got)
			}
			letters := dead.Letters()
			if len(letters) != 2 {
				t.Fatalf("%d dead letters", len(letters))
			}
			for i, l := range letters {
				if l.Message != fmt.Sprintf("bad-%d", i+1) || l.Status != 400 || l.Reason != "document_parsing_exception" ||
					!strings.Contains(l.Error, `document_parsing_exception: [1:42] failed to parse field [status]`) ||
					!strings.Contains(l.Error, `'ok "quoted"'`) || l.Sink != "test" || l.Time.IsZero() {
					t.Fatalf("dead letter %+v", l)
				}
			}
			errs := logs.Lines(slog.LevelError)
			if len(errs) != 1 || !strings.Contains(errs[0].Attrs["error"], "2 refused (first item 1: 400 document_parsing_exception") ||
				errs[0].Attrs["reason"] != "document_parsing_exception" {
				t.Fatalf("logged %+v", errs)
			}
		})
	}
}

func TestCreateConflictCountsAsDelivered(t *testing.T) {
	srv := estest.New(t, estest.Elasticsearch8).Start()
	cfg := testConfig(srv.URL())
	cfg.Mode = ModeDataStream
	cfg.IDField = "request_id"
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, cfg, cctx))
	meta := nomadMeta("prod", "web")
	withID := func(msg, id string) event.Event {
		e := ev(meta, msg)
		e.Fields = event.NewFields(event.Field{Key: "request_id", Value: event.StringValue(id)})
		return e
	}
	r.Send(withID("first", "r-1"), withID("second", "r-2"))
	r.Send(withID("first again", "r-1"), ev(meta, "no id"))
	if !r.Ack() || !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	docs := srv.Docs()
	if got := messages(docs); fmt.Sprint(got) != "[first second no id]" {
		t.Fatalf("stored %q", got)
	}
	if docs[0].ID != "r-1" || docs[0].Index != "logs-generic-default" {
		t.Fatalf("doc %+v", docs[0])
	}
	if got := testutil.ToFloat64(m.SentEvents); got != 4 {
		t.Fatalf("sent %v", got)
	}
	if got := testutil.ToFloat64(m.Errors("send")); got != 0 {
		t.Fatalf("a 409 of a create counted as an error: %v", got)
	}
}

func TestTooLargeSplitsAndDiscardsADocumentTooLargeAlone(t *testing.T) {
	srv := estest.New(t, estest.Elasticsearch8)
	srv.MaxContentLength = 1500
	srv.Start()
	cfg := testConfig(srv.URL())
	cctx, logs, dead := sinktest.Recorded(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, cfg, cctx))
	meta := nomadMeta("prod", "web")
	var evs []event.Event
	var want []string
	for i := range 10 {
		msg := fmt.Sprintf("doc-%d %s", i, strings.Repeat("x", 50))
		if i == 3 {
			msg = "huge " + strings.Repeat("y", 2000)
		} else {
			want = append(want, msg)
		}
		evs = append(evs, ev(meta, msg))
	}
	r.Send(evs...)
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	got := messages(srv.Docs())
	slices.Sort(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored %q", got)
	}
	if got := testutil.ToFloat64(m.Discarded("too_large")); got != 1 {
		t.Fatalf("discarded too_large %v", got)
	}
	if l := dead.Letters(); len(l) != 1 || l[0].Status != 413 || l[0].Reason != "too_large" || !strings.HasPrefix(l[0].Message, "huge") {
		t.Fatalf("dead letters %+v", l)
	}
	var warned int
	for _, ln := range logs.Lines(slog.LevelWarn) {
		if strings.Contains(ln.Attrs["error"], "HTTP 413") && ln.Level == slog.LevelWarn {
			warned++
		}
	}
	if warned != 1 {
		t.Fatalf("413 warned %d times: %+v", warned, logs.Lines(slog.LevelWarn))
	}
}

func TestRoutingNamesAreTemplatedDefaultedAndSanitized(t *testing.T) {
	cases := []struct {
		name string
		mod  func(c *Config)
		want []string // index of each event: Web-API/Prod, missing fields, web/dev
	}{
		{"bulk index", func(c *Config) { c.Index, c.DefaultIndex = "logs-{{ nomad.namespace }}", "logs-none" },
			[]string{"logs-prod", "logs-none", "logs-dev"}},
		{"data stream parts", func(c *Config) {
			c.Mode = ModeDataStream
			c.DataStream.Dataset, c.DataStream.Namespace = "nomad.{{ nomad.job_name }}", "{{ nomad.namespace }}"
		}, []string{"logs-nomad.web_api-prod", "logs-generic-default", "logs-nomad.web-dev"}},
		{"data stream name", func(c *Config) {
			c.Mode = ModeDataStream
			c.DataStream.Name, c.DataStream.DefaultName = "logs-{{ nomad.job_name }}-x", "logs-other-x"
		}, []string{"logs-web-api-x", "logs-other-x", "logs-web-x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := estest.New(t, estest.OpenSearch2).Start()
			cfg := testConfig(srv.URL())
			c.mod(cfg)
			r := sinktest.Start(t, build(t, cfg))
			bare := event.NewMeta("file", event.NewFields(event.Field{Key: "file", Value: event.StringValue("/x")}))
			r.Send(ev(nomadMeta("Prod", "Web-API"), "a"), ev(bare, "b"), ev(nomadMeta("dev", "web"), "c"))
			if !r.Ack() {
				t.Fatal("not ok")
			}
			r.Close()
			var got []string
			for _, d := range srv.Docs() {
				got = append(got, d.Index)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("indices %q, want %q", got, c.want)
			}
		})
	}
}

func TestWholeRequestRefusalsAndAuth(t *testing.T) {
	pki := httpclienttest.NewPKI(t)
	fake := estest.New(t, estest.Elasticsearch8)
	fake.Authorization = "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
	srv := pki.NewServer(t, fake, false)
	cfg := testConfig(srv.URL)
	cfg.TLS = &httpclient.TLSConfig{CAFile: pki.CAFile}
	cfg.Auth = &httpclient.AuthConfig{Strategy: "api_key", APIKey: "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="}
	s := build(t, cfg)
	if err := s.Healthcheck(context.Background()); err != nil {
		t.Fatalf("healthcheck with an API key over TLS: %v", err)
	}
	r := sinktest.Start(t, s)
	r.Send(ev(nomadMeta("p", "w"), "with key"))
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	if got := messages(fake.Docs()); fmt.Sprint(got) != "[with key]" {
		t.Fatalf("stored %q", got)
	}

	// Wrong credentials: 401 is retried, reported with the cluster's
	// error, and nothing is discarded; once the key is right again (a
	// rotated api_key_file), the document is delivered.
	keyFile := filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(keyFile, []byte("d3Jvbmc6a2V5"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Auth = &httpclient.AuthConfig{Strategy: "api_key", APIKeyFile: keyFile}
	cctx, logs, _ := sinktest.Recorded(t, Type)
	m := cctx.Metrics
	s = build(t, cfg, cctx)
	if err := s.Healthcheck(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("healthcheck with wrong credentials: %v", err)
	}
	r = sinktest.Start(t, s)
	r.Send(ev(nomadMeta("p", "w"), "refused at first"))
	sinktest.WaitFor(t, "refused attempts", func() bool { return testutil.ToFloat64(m.DeliveryFailures("unauthorized")) >= 2 })
	warns := logs.Lines(slog.LevelWarn)
	if len(warns) == 0 || warns[0].Attrs["reason"] != "unauthorized" || !strings.Contains(warns[0].Attrs["error"], "security_exception") {
		t.Fatalf("logged %+v", warns)
	}
	sinktest.RotateFile(t, keyFile, "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==\n")
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	if got := messages(fake.Docs()); fmt.Sprint(got) != "[with key refused at first]" {
		t.Fatalf("stored %q", got)
	}
	if got := sinktest.SumDiscarded(t, m); got != 0 {
		t.Fatalf("discarded %v", got)
	}
}

func TestQueryHeadersAndBody(t *testing.T) {
	srv := estest.New(t, estest.Elasticsearch8).Start()
	cfg := testConfig(srv.URL() + "/")
	cfg.Pipeline = "nomad logs"
	cfg.Headers = map[string]string{"X-Opaque-Id": "drover"}
	cfg.Index = "logs-{{ nomad.namespace }}"
	cfg.TimestampField = "timestamp"
	r := sinktest.Start(t, build(t, cfg))
	r.Send(ev(nomadMeta("p", "w"), "x"))
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	b := srv.Bulks()[0]
	q, _ := url.ParseQuery(b.Query)
	if q.Get("pipeline") != "nomad logs" || q.Get("filter_path") != filterPath {
		t.Fatalf("query %q", b.Query)
	}
	if b.ContentEncoding != "gzip" || b.Header.Get("X-Opaque-Id") != "drover" || b.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("headers %v", b.Header)
	}
	doc := srv.Docs()[0]
	if doc.Fields["timestamp"] != "2023-11-14T22:13:20.123456789Z" || doc.Fields["@timestamp"] != nil || doc.Index != "logs-p" {
		t.Fatalf("document %s in %s", doc.Source, doc.Index)
	}
}

func TestUnreadableOrShortResponsesAreRetried(t *testing.T) {
	replies := []string{
		`<html>gateway says hi</html>`,
		`{"errors":true,"items":[{"index":{"status":201}}]}`, // one item for two documents
	}
	srv := estest.New(t, estest.Elasticsearch8).Start()
	n := 0
	srv.SetFault(func(b *estest.Bulk) *estest.Reply {
		if n >= len(replies) {
			return nil
		}
		n++
		return &estest.Reply{Status: 200, Body: replies[n-1]}
	})
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, testConfig(srv.URL()), cctx))
	meta := nomadMeta("p", "w")
	r.Send(ev(meta, "one"), ev(meta, "two"))
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	bulks := srv.Bulks()
	if len(bulks) != 3 || fmt.Sprint(itemMessages(bulks[2])) != "[two]" {
		t.Fatalf("%d requests, last %q", len(bulks), itemMessages(bulks[len(bulks)-1]))
	}
	if got := messages(srv.Docs()); fmt.Sprint(got) != "[two]" {
		t.Fatalf("stored %q", got) // the fake stored nothing for the faked answers
	}
	if got := testutil.ToFloat64(m.Retries); got != 2 {
		t.Fatalf("retries %v", got)
	}
}

func TestItemsFailingForTheClusterStateAreRetried(t *testing.T) {
	srv := estest.New(t, estest.Elasticsearch8).Start()
	var mu sync.Mutex
	left := 2
	srv.SetItemFault(func(it *estest.Item) *estest.ItemError {
		mu.Lock()
		defer mu.Unlock()
		if left == 0 {
			return nil
		}
		left--
		if left == 1 {
			return &estest.ItemError{Status: 404, Type: "index_not_found_exception", Reason: "no such index [logs] and [action.auto_create_index] is [false]"}
		}
		return &estest.ItemError{Status: 403, Type: "cluster_block_exception",
			Reason: "index [logs] blocked by: [FORBIDDEN/8/index write (api)];"}
	})
	cctx, logs, dead := sinktest.Recorded(t, Type)
	m := cctx.Metrics
	cfg := testConfig(srv.URL())
	cfg.Batch.MaxEvents = 1
	r := sinktest.Start(t, build(t, cfg, cctx))
	r.Send(ev(nomadMeta("p", "w"), "a"))
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	if got := messages(srv.Docs()); fmt.Sprint(got) != "[a]" {
		t.Fatalf("stored %q", got)
	}
	if len(dead.Letters()) != 0 || sinktest.SumDiscarded(t, m) != 0 {
		t.Fatalf("dead letters %+v", dead.Letters())
	}
	if got := testutil.ToFloat64(m.DeliveryFailures("not_found")); got != 1 {
		t.Fatalf("delivery_failures{not_found} = %v", got)
	}
	if got := testutil.ToFloat64(m.DeliveryFailures("forbidden")); got != 1 {
		t.Fatalf("delivery_failures{forbidden} = %v", got)
	}
	if warns := logs.Lines(slog.LevelWarn); len(warns) == 0 || !strings.Contains(warns[0].Attrs["error"], "index_not_found_exception") {
		t.Fatalf("logged %+v", warns)
	}
}

func TestDeadLetterBlockIsReplaced(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1")
	cfg.DeadLetter = &DeadLetterConfig{Path: "dead.ndjson"}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), ".dead_letter") || !strings.Contains(err.Error(), `sink "file"`) {
		t.Fatalf("Validate = %v", err)
	}
}

func TestHealthcheck(t *testing.T) {
	for _, c := range []struct {
		flavor estest.Flavor
		want   string
	}{
		{estest.Elasticsearch8, "distribution=elasticsearch version=8.15.0"},
		{estest.OpenSearch2, "distribution=opensearch version=2.15.0"},
	} {
		srv := estest.New(t, c.flavor).Start()
		cctx, logs, _ := sinktest.Recorded(t, Type)
		s := build(t, testConfig(srv.URL()), cctx)
		if err := s.Healthcheck(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.client.CloseIdleConnections()
		ln := logs.Lines(slog.LevelInfo)
		if len(ln) == 0 || "distribution="+ln[0].Attrs["distribution"]+" version="+ln[0].Attrs["version"] != c.want {
			t.Fatalf("logged %+v, want %q", ln, c.want)
		}
	}
	srv := estest.New(t, estest.Elasticsearch8).Start()
	srv.Authorization = "Basic nope"
	cfg := testConfig(srv.URL())
	cfg.Healthcheck.Required = true
	if _, err := New(sinktest.Context(t, Type), cfg); err == nil || !strings.Contains(err.Error(), "required healthcheck failed") {
		t.Fatalf("required healthcheck against a refusing cluster: %v", err)
	}
	cfg.Auth = &httpclient.AuthConfig{Strategy: "bearer", Token: "t"}
	srv.Authorization = "Bearer t"
	if _, err := New(sinktest.Context(t, Type), cfg); err != nil {
		t.Fatalf("required healthcheck against a healthy cluster: %v", err)
	}
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
	other := httpclienttest.NewPKI(t).NewServer(t, plain, false)
	cfg = testConfig(other.URL)
	cfg.TLS = &httpclient.TLSConfig{InsecureSkipVerify: true}
	if err := build(t, cfg).Healthcheck(context.Background()); err == nil || !strings.Contains(err.Error(), "cluster information") {
		t.Fatalf("a server that is not a cluster: %v", err)
	}
	cfg = testConfig("http://127.0.0.1:1")
	cfg.Healthcheck.Enabled = false
	if err := build(t, cfg).Healthcheck(context.Background()); err != nil {
		t.Fatalf("disabled: %v", err)
	}
}
