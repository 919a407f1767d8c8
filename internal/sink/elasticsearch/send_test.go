package elasticsearch

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/httpclient/httpclienttest"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/elasticsearch/estest"
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

// deadLetters reads the dead-letter file.
func deadLetters(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("dead-letter line %q: %v", sc.Text(), err)
		}
		out = append(out, rec)
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
			cfg.DeadLetter = &DeadLetterConfig{Path: "dead/es.ndjson"}
			m := metrics.ForTest("sink", Type, t.Name())
			logs := &logRecorder{}
			cctx := componentContext(t, m, slog.New(logs))
			s, err := New(cctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := start(t, s)
			meta := nomadMeta("prod", "web")
			r.send(ev(meta, "ok-1"), ev(meta, "bad-1"), ev(meta, "busy-1"), ev(meta, "ok-2"), ev(meta, "busy-2"), ev(meta, "bad-2"))
			if !r.ack() {
				t.Fatal("a batch with refused documents is released ok (rejected)")
			}
			r.close()
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
			recs := deadLetters(t, filepath.Join(cctx.DataDir, "dead/es.ndjson"))
			if len(recs) != 2 {
				t.Fatalf("%d dead letters", len(recs))
			}
			for i, rec := range recs {
				doc, _ := rec["document"].(map[string]any)
				errObj, _ := rec["error"].(map[string]any)
				action, _ := rec["action"].(map[string]any)
				if doc["message"] != fmt.Sprintf("bad-%d", i+1) || rec["status"] != 400.0 ||
					errObj["type"] != "document_parsing_exception" || !strings.Contains(errObj["reason"].(string), `'ok "quoted"'`) ||
					action["index"] == nil || rec["time"] == nil {
					t.Fatalf("dead letter %v", rec)
				}
			}
			_, attrs := logs.at(slog.LevelError)
			joined := strings.Join(attrs, "\n")
			if !strings.Contains(joined, "2 refused (first item 1: 400 document_parsing_exception") ||
				!strings.Contains(joined, "reason=document_parsing_exception") {
				t.Fatalf("logged %s", joined)
			}
		})
	}
}

func TestCreateConflictCountsAsDelivered(t *testing.T) {
	srv := estest.New(t, estest.Elasticsearch8).Start()
	cfg := testConfig(srv.URL())
	cfg.Mode = ModeDataStream
	cfg.IDField = "request_id"
	m := metrics.ForTest("sink", Type, t.Name())
	r := start(t, build(t, cfg, m, nil))
	meta := nomadMeta("prod", "web")
	withID := func(msg, id string) event.Event {
		e := ev(meta, msg)
		e.Fields = event.NewFields(event.Field{Key: "request_id", Value: event.StringValue(id)})
		return e
	}
	r.send(withID("first", "r-1"), withID("second", "r-2"))
	r.send(withID("first again", "r-1"), ev(meta, "no id"))
	if !r.ack() || !r.ack() {
		t.Fatal("not ok")
	}
	r.close()
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
	cfg.DeadLetter = &DeadLetterConfig{Path: "dead.ndjson"}
	m := metrics.ForTest("sink", Type, t.Name())
	logs := &logRecorder{}
	cctx := componentContext(t, m, slog.New(logs))
	s, err := New(cctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, s)
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
	r.send(evs...)
	if !r.ack() {
		t.Fatal("not ok")
	}
	r.close()
	got := messages(srv.Docs())
	slices.Sort(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored %q", got)
	}
	if got := testutil.ToFloat64(m.Discarded(ReasonTooLarge)); got != 1 {
		t.Fatalf("discarded too_large %v", got)
	}
	recs := deadLetters(t, filepath.Join(cctx.DataDir, "dead.ndjson"))
	if len(recs) != 1 || recs[0]["status"] != 413.0 || !strings.HasPrefix(recs[0]["document"].(map[string]any)["message"].(string), "huge") {
		t.Fatalf("dead letters %v", recs)
	}
	msgs, _ := logs.at(slog.LevelWarn)
	if n := strings.Count(strings.Join(msgs, "\n"), "HTTP 413"); n != 1 {
		t.Fatalf("413 warned %d times: %q", n, msgs)
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
			r := start(t, build(t, cfg, nil, nil))
			bare := event.NewMeta("file", event.NewFields(event.Field{Key: "file", Value: event.StringValue("/x")}))
			r.send(ev(nomadMeta("Prod", "Web-API"), "a"), ev(bare, "b"), ev(nomadMeta("dev", "web"), "c"))
			if !r.ack() {
				t.Fatal("not ok")
			}
			r.close()
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
	s := build(t, cfg, nil, nil)
	if err := s.Healthcheck(context.Background()); err != nil {
		t.Fatalf("healthcheck with an API key over TLS: %v", err)
	}
	r := start(t, s)
	r.send(ev(nomadMeta("p", "w"), "with key"))
	if !r.ack() {
		t.Fatal("not ok")
	}
	r.close()
	if got := messages(fake.Docs()); fmt.Sprint(got) != "[with key]" {
		t.Fatalf("stored %q", got)
	}

	// Wrong credentials: 401 is permanent, logged with the cluster's
	// error, and not retried.
	cfg.Auth = &httpclient.AuthConfig{Strategy: "basic", User: "drover", Password: "wrong"}
	m := metrics.ForTest("sink", Type, t.Name())
	logs := &logRecorder{}
	s = build(t, cfg, m, slog.New(logs))
	if err := s.Healthcheck(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("healthcheck with wrong credentials: %v", err)
	}
	r = start(t, s)
	r.send(ev(nomadMeta("p", "w"), "refused"))
	if !r.ack() {
		t.Fatal("not ok")
	}
	r.close()
	if got := testutil.ToFloat64(m.Discarded("rejected")); got != 1 {
		t.Fatalf("rejected %v", got)
	}
	if got := testutil.ToFloat64(m.Retries); got != 0 {
		t.Fatalf("a 401 was retried %v times", got)
	}
	_, attrs := logs.at(slog.LevelError)
	if !strings.Contains(strings.Join(attrs, " "), "security_exception") {
		t.Fatalf("logged %q", attrs)
	}
}

func TestQueryHeadersAndBody(t *testing.T) {
	srv := estest.New(t, estest.Elasticsearch8).Start()
	cfg := testConfig(srv.URL() + "/")
	cfg.Pipeline = "nomad logs"
	cfg.Headers = map[string]string{"X-Opaque-Id": "drover"}
	cfg.Index = "logs-{{ nomad.namespace }}"
	cfg.TimestampField = "timestamp"
	r := start(t, build(t, cfg, nil, nil))
	r.send(ev(nomadMeta("p", "w"), "x"))
	if !r.ack() {
		t.Fatal("not ok")
	}
	r.close()
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
	m := metrics.ForTest("sink", Type, t.Name())
	r := start(t, build(t, testConfig(srv.URL()), m, nil))
	meta := nomadMeta("p", "w")
	r.send(ev(meta, "one"), ev(meta, "two"))
	if !r.ack() {
		t.Fatal("not ok")
	}
	r.close()
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

func TestDeadLetterFileLimit(t *testing.T) {
	srv := estest.New(t, estest.Elasticsearch8).Start()
	srv.SetItemFault(func(*estest.Item) *estest.ItemError {
		return &estest.ItemError{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse"}
	})
	cfg := testConfig(srv.URL())
	cfg.Batch.MaxEvents = 1
	cfg.DeadLetter = &DeadLetterConfig{Path: filepath.Join(t.TempDir(), "dl", "refused.ndjson"), MaxBytes: 700}
	m := metrics.ForTest("sink", Type, t.Name())
	logs := &logRecorder{}
	r := start(t, build(t, cfg, m, slog.New(logs)))
	meta := nomadMeta("p", "w")
	r.send(ev(meta, "a"), ev(meta, "b"), ev(meta, "c"), ev(meta, "d"))
	if !r.ack() {
		t.Fatal("not ok")
	}
	r.close()
	recs := deadLetters(t, cfg.DeadLetter.Path)
	if len(recs) == 0 || len(recs) == 4 {
		t.Fatalf("%d dead letters under a 700-byte limit", len(recs))
	}
	if st, _ := os.Stat(cfg.DeadLetter.Path); st.Size() > 700 {
		t.Fatalf("dead-letter file has %d bytes", st.Size())
	}
	if got := testutil.ToFloat64(m.Errors("dead_letter")); got != float64(4-len(recs)) {
		t.Fatalf("dead_letter errors %v", got)
	}
	if got := testutil.ToFloat64(m.Discarded("mapper_parsing_exception")); got != 4 {
		t.Fatalf("discarded %v", got)
	}
	msgs, _ := logs.at(slog.LevelError)
	if n := slices.Index(msgs, "cannot keep refused documents in the dead-letter file"); n < 0 {
		t.Fatalf("no error logged: %q", msgs)
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
		logs := &logRecorder{}
		s := build(t, testConfig(srv.URL()), nil, slog.New(logs))
		if err := s.Healthcheck(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.client.CloseIdleConnections()
		_, attrs := logs.at(slog.LevelInfo)
		if !strings.Contains(strings.Join(attrs, " "), c.want) {
			t.Fatalf("logged %q, want %q", attrs, c.want)
		}
	}
	srv := estest.New(t, estest.Elasticsearch8).Start()
	srv.Authorization = "Basic nope"
	cfg := testConfig(srv.URL())
	cfg.Healthcheck.Required = true
	if _, err := New(componentContext(t, nil, nil), cfg); err == nil || !strings.Contains(err.Error(), "required healthcheck failed") {
		t.Fatalf("required healthcheck against a refusing cluster: %v", err)
	}
	cfg.Auth = &httpclient.AuthConfig{Strategy: "bearer", Token: "t"}
	srv.Authorization = "Bearer t"
	if _, err := New(componentContext(t, nil, nil), cfg); err != nil {
		t.Fatalf("required healthcheck against a healthy cluster: %v", err)
	}
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
	other := httpclienttest.NewPKI(t).NewServer(t, plain, false)
	cfg = testConfig(other.URL)
	cfg.TLS = &httpclient.TLSConfig{InsecureSkipVerify: true}
	if err := build(t, cfg, nil, nil).Healthcheck(context.Background()); err == nil || !strings.Contains(err.Error(), "cluster information") {
		t.Fatalf("a server that is not a cluster: %v", err)
	}
	cfg = testConfig("http://127.0.0.1:1")
	cfg.Healthcheck.Enabled = false
	if err := build(t, cfg, nil, nil).Healthcheck(context.Background()); err != nil {
		t.Fatalf("disabled: %v", err)
	}
}
