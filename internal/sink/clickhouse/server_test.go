package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/clickhouse/clickhousetest"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// nomadTable is the documented table for Nomad logs in the form ClickHouse
// 18.16 accepts: DateTime instead of DateTime64(9), and no Map column for
// nomad.meta (skip_unknown_fields leaves it out).
const nomadTable = "CREATE TABLE %s.%s (" +
	"timestamp DateTime, message String, host LowCardinality(String), source_type LowCardinality(String), " +
	"stream LowCardinality(String), `nomad.namespace` LowCardinality(String), `nomad.job_name` LowCardinality(String), " +
	"`nomad.task_name` LowCardinality(String), `nomad.alloc_id` String, `nomad.alloc_index` UInt32" +
	") ENGINE = MergeTree ORDER BY (`nomad.namespace`, `nomad.job_name`, timestamp)"

// nomadConfig is the documented configuration for nomadTable.
func nomadConfig(endpoint, db, table string) *Config {
	cfg := testConfig(endpoint, db, table)
	cfg.SkipUnknownFields = true
	cfg.DateTimeBestEffort = true
	cfg.Settings = map[string]string{"input_format_import_nested_json": "1"}
	return cfg
}

type row struct {
	Timestamp  string `json:"timestamp"`
	Message    string `json:"message"`
	Host       string `json:"host"`
	Namespace  string `json:"nomad.namespace"`
	Job        string `json:"nomad.job_name"`
	AllocID    string `json:"nomad.alloc_id"`
	AllocIndex int    `json:"nomad.alloc_index"`
}

// rows reads a table as JSONEachRow.
func rows(t *testing.T, srv *clickhousetest.Server, db, table string) []row {
	t.Helper()
	out := srv.MustQuery(t, fmt.Sprintf("SELECT * FROM %s.%s ORDER BY timestamp, message FORMAT JSONEachRow", db, table))
	var rs []row
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r row
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("decoding %q: %v", out, err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestNomadLogsRoutedPerNamespace(t *testing.T) {
	srv := clickhousetest.Require(t)
	db := srv.Database(t)
	for _, table := range []string{"nomad_default", "nomad_batch", "nomad_unknown"} {
		srv.MustQuery(t, fmt.Sprintf(nomadTable, db, table))
	}
	cfg := nomadConfig(srv.URL, db, "nomad_{{ nomad.namespace }}")
	cfg.DefaultTable = "nomad_unknown"
	cfg.Batch.MaxEvents = 100
	cfg.Batch.Timeout = 50 * time.Millisecond
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, cfg, cctx))

	web := nomadMeta("default", "web", "5b9c1f0e-8f3a-4b7e-9d2c-0a1b2c3d4e5f")
	backup := nomadMeta("batch", "backup", "0a1b2c3d-8f3a-4b7e-9d2c-5b9c1f0e4e5f")
	orphan := nomadMeta("", "lost", "ffffffff-8f3a-4b7e-9d2c-5b9c1f0e4e5f")
	// One source batch interleaving three targets: one request, three inserts.
	var evs []event.Event
	for i := range 6 {
		evs = append(evs, events([]*event.Meta{web, backup, orphan}[i%3], fmt.Sprintf("line %d ü \"q\"", i))[0])
		evs[i].Timestamp = time.Date(2026, 11, 21, 12, 0, i, 0, time.UTC)
	}
	r.Send(evs...)
	if !r.Ack() {
		t.Fatal("batch not delivered")
	}
	r.Close()

	check := func(table, ns, job string, msgs ...string) {
		t.Helper()
		got := rows(t, srv, db, table)
		if len(got) != len(msgs) {
			t.Fatalf("%s has %d rows, want %d: %+v", table, len(got), len(msgs), got)
		}
		for i, rw := range got {
			if rw.Message != msgs[i] || rw.Namespace != ns || rw.Job != job || rw.Host != "node-1" ||
				!strings.HasPrefix(rw.Timestamp, "2026-11-21 12:00:0") || rw.AllocIndex != 0 || rw.AllocID == "" {
				t.Errorf("%s row %d: %+v", table, i, rw)
			}
		}
	}
	check("nomad_default", "default", "web", `line 0 ü "q"`, `line 3 ü "q"`)
	check("nomad_batch", "batch", "backup", `line 1 ü "q"`, `line 4 ü "q"`)
	check("nomad_unknown", "", "lost", `line 2 ü "q"`, `line 5 ü "q"`)
	if got := testutil.ToFloat64(m.SentEvents); got != 6 {
		t.Errorf("sent %v events", got)
	}
}

func TestUnroutableEventsWithoutDefaultAreDiscarded(t *testing.T) {
	srv := clickhousetest.Require(t)
	db := srv.Database(t)
	srv.MustQuery(t, fmt.Sprintf(nomadTable, db, "nomad_default"))
	cctx, logs, _ := sinktest.Recorded(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, nomadConfig(srv.URL, db, "nomad_{{ nomad.namespace }}"), cctx))
	r.Send(append(events(nomadMeta("default", "web", "a"), "routed"), events(nomadMeta("", "web", "b"), "unroutable")...)...)
	if !r.Ack() {
		t.Fatal("a batch with a refused event is released ok (rejected)")
	}
	r.Close()
	if got := rows(t, srv, db, "nomad_default"); len(got) != 1 || got[0].Message != "routed" {
		t.Fatalf("rows %+v", got)
	}
	if got := testutil.ToFloat64(m.Discarded(ReasonMissingField)); got != 1 {
		t.Fatalf("discarded %v", got)
	}
	if got := testutil.ToFloat64(m.Retries); got != 0 {
		t.Fatalf("an unroutable event was retried %v times", got)
	}
	errs := logs.Messages(slog.LevelError)
	if len(errs) != 1 {
		t.Fatalf("errors logged: %q", errs)
	}
	if v, _ := logs.Attr(errs[0], "error"); !strings.Contains(v, "nomad.namespace") {
		t.Fatalf("the logged error does not name the missing field: %q", v)
	}
}

func TestDataErrorDiscardsOnlyTheBadRows(t *testing.T) {
	srv := clickhousetest.Require(t)
	db := srv.Database(t)
	srv.MustQuery(t, "CREATE TABLE "+db+".t (timestamp DateTime, message String, level UInt8) ENGINE = Memory")
	cfg := testConfig(srv.URL, db, "t")
	cfg.SkipUnknownFields, cfg.DateTimeBestEffort = true, true
	cfg.Batch.MaxEvents = 100
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, cfg, cctx))
	meta := event.NewMeta("t", event.NewFields(event.Field{Key: "host", Value: event.StringValue("node-1")}))
	evs := events(meta, "ok-1", "bad-2", "ok-3", "bad-4", "ok-5")
	for i := range evs {
		level := event.IntValue(int64(i))
		if strings.HasPrefix(string(evs[i].Message), "bad") {
			level = event.StringValue("warning") // not a UInt8
		}
		evs[i].Fields = event.NewFields(event.Field{Key: "level", Value: level})
	}
	r.Send(evs...)
	if !r.Ack() {
		t.Fatal("not released ok")
	}
	r.Close()
	got := srv.Lines(t, "SELECT message FROM "+db+".t ORDER BY message")
	if !slices.Equal(got, []string{"ok-1", "ok-3", "ok-5"}) {
		t.Fatalf("stored %q", got)
	}
	if d := sinktest.SumDiscarded(t, m); d != 2 {
		t.Fatalf("discarded %v, want the 2 bad rows", d)
	}
	if s := testutil.ToFloat64(m.SentEvents); s != 3 {
		t.Fatalf("sent %v", s)
	}
}

func TestSystematicDataErrorIsSplitAfterSomeRows(t *testing.T) {
	srv := clickhousetest.Require(t)
	db := srv.Database(t)
	srv.MustQuery(t, "CREATE TABLE "+db+".t (timestamp DateTime, message String) ENGINE = Memory")
	rec := newRecorder(t, srv.URL)
	// Without date_time_best_effort, 18.16 cannot parse the RFC 3339
	// timestamp of any event.
	cfg := testConfig(rec.URL, db, "t")
	cfg.SkipUnknownFields = true
	cfg.Batch.MaxEvents = 100
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, cfg, cctx))
	msgs := make([]string, 60)
	for i := range msgs {
		msgs[i] = fmt.Sprint("m", i)
	}
	r.Send(events(event.NewMeta("t", nil), msgs...)...)
	if !r.Ack() {
		t.Fatal("not released ok")
	}
	r.Close()
	// 16 rows one by one, then the other 44 in halves of 22, each of
	// which gives up after 16 rows again, and so on: fewer inserts than
	// two per row.
	if n := len(rec.inserts()); n > 2*60 {
		t.Errorf("%d inserts for 60 rows that all fail", n)
	}
	if d := sinktest.SumDiscarded(t, m); d != 60 {
		t.Fatalf("discarded %v", d)
	}
}

// recorder is a proxy in front of a server that keeps the URL parameters
// of every insert.
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	params []url.Values
}

func newRecorder(t *testing.T, target string) *recorder {
	p := newForwarder(target)
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Get("query") != "" {
			rec.mu.Lock()
			rec.params = append(rec.params, q)
			rec.mu.Unlock()
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) inserts() []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.params)
}

func TestOldServerGetsNoUnsupportedSettings(t *testing.T) {
	srv := clickhousetest.Require(t)
	db := srv.Database(t)
	srv.MustQuery(t, fmt.Sprintf(nomadTable, db, "logs"))
	rec := newRecorder(t, srv.URL)
	cfg := nomadConfig(rec.URL, db, "logs")
	cfg.AsyncInsert = true // 18.16 does not know it
	cctx, logs, _ := sinktest.Recorded(t, Type)
	s := build(t, cfg, cctx)
	if err := s.Healthcheck(context.Background()); err != nil {
		t.Fatalf("healthcheck: %v", err)
	}
	r := sinktest.Start(t, s)
	r.Send(events(nomadMeta("default", "web", "a"), "one", "two")...)
	if !r.Ack() {
		t.Fatal("not delivered")
	}
	r.Close()
	ins := rec.inserts()
	if len(ins) != 1 {
		t.Fatalf("%d inserts", len(ins))
	}
	for _, p := range []string{"async_insert", "wait_for_async_insert", "insert_deduplication_token", "async_insert_deduplicate"} {
		if ins[0].Has(p) {
			t.Errorf("sent %s to ClickHouse %s", p, srv.Version)
		}
	}
	if ins[0].Get("input_format_skip_unknown_fields") != "1" || ins[0].Get("date_time_input_format") != "best_effort" ||
		ins[0].Get("input_format_import_nested_json") != "1" {
		t.Errorf("configured settings missing: %v", ins[0])
	}
	if v, _ := logs.Attr("detected ClickHouse server", "server"); !strings.Contains(v, srv.Version) {
		t.Errorf("detection not logged with the version: %q", v)
	}
	warned := false
	for _, msg := range logs.Messages(slog.LevelWarn) {
		warned = warned || strings.Contains(msg, "async_insert is configured but the server does not support it")
	}
	if !warned {
		t.Errorf("no warning about async_insert: %q", logs.Messages(slog.LevelWarn))
	}
	if got := rows(t, srv, db, "logs"); len(got) != 2 {
		t.Fatalf("rows %+v", got)
	}
}

func TestAuthentication(t *testing.T) {
	srv := clickhousetest.Require(t)
	db := srv.Database(t)
	srv.MustQuery(t, fmt.Sprintf(nomadTable, db, "logs"))
	for _, strategy := range []string{AuthBasic, AuthHeaders} {
		t.Run(strategy, func(t *testing.T) {
			cfg := nomadConfig(srv.URL, db, "logs")
			cfg.Auth = &AuthConfig{Strategy: strategy, User: clickhousetest.User, Password: clickhousetest.Password}
			s := build(t, cfg)
			if err := s.Healthcheck(context.Background()); err != nil {
				t.Fatalf("healthcheck: %v", err)
			}
			r := sinktest.Start(t, s)
			r.Send(events(nomadMeta("default", "web", "a"), "as "+strategy)...)
			if !r.Ack() {
				t.Fatal("not delivered")
			}
			r.Close()
		})
	}
	if got := rows(t, srv, db, "logs"); len(got) != 2 {
		t.Fatalf("rows %+v", got)
	}

	t.Run("wrong password waits for the right one", func(t *testing.T) {
		pw := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(pw, []byte("wrong\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := nomadConfig(srv.URL, db, "logs")
		cfg.Auth = &AuthConfig{Strategy: AuthBasic, User: clickhousetest.User, PasswordFile: pw}
		cctx := sinktest.Context(t, Type)
		m := cctx.Metrics
		s := build(t, cfg, cctx)
		err := s.Healthcheck(context.Background())
		if err == nil || !strings.Contains(err.Error(), "ClickHouse error 193") {
			t.Fatalf("healthcheck with a wrong password: %v", err)
		}
		r := sinktest.Start(t, s)
		r.Send(events(nomadMeta("default", "web", "a"), "x", "y")...)
		sinktest.WaitFor(t, "refused attempts", func() bool { return testutil.ToFloat64(m.DeliveryFailures("unauthorized")) >= 2 })
		if c := cctx.Health.Conditions(); len(c) != 1 || c[0].Reason != "unauthorized" {
			t.Fatalf("health %+v", c)
		}
		sinktest.RotateFile(t, pw, clickhousetest.Password+"\n")
		if !r.Ack() {
			t.Fatal("not released ok")
		}
		r.Close()
		if d := sinktest.SumDiscarded(t, m); d != 0 {
			t.Fatalf("discarded %v", d)
		}
		if got := rows(t, srv, db, "logs"); len(got) != 4 {
			t.Fatalf("rows %+v", got)
		}
	})
}

func TestHealthcheck(t *testing.T) {
	srv := clickhousetest.Require(t)
	db := srv.Database(t)
	srv.MustQuery(t, fmt.Sprintf(nomadTable, db, "logs"))
	if err := build(t, nomadConfig(srv.URL, db, "logs")).Healthcheck(context.Background()); err != nil {
		t.Fatalf("existing table: %v", err)
	}
	err := build(t, nomadConfig(srv.URL, db, "nope")).Healthcheck(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing table: %v", err)
	}
	// A templated table cannot be checked; the server can.
	if err := build(t, nomadConfig(srv.URL, db, "logs_{{ nomad.namespace }}")).Healthcheck(context.Background()); err != nil {
		t.Fatalf("templated table: %v", err)
	}
	disabled := nomadConfig("http://127.0.0.1:1", db, "logs")
	disabled.Healthcheck.Enabled = false
	if err := build(t, disabled).Healthcheck(context.Background()); err != nil {
		t.Fatalf("disabled check: %v", err)
	}

	required := nomadConfig(srv.URL, db, "nope")
	required.Healthcheck.Required = true
	_, err = New(component.Context{Kind: component.KindSink, Type: Type, ID: "x"}, required)
	if err == nil || !strings.Contains(err.Error(), "healthcheck.required") {
		t.Fatalf("a required check that fails must fail the build: %v", err)
	}
	required.Table = "logs"
	if _, err := New(component.Context{Kind: component.KindSink, Type: Type, ID: "x"}, required); err != nil {
		t.Fatalf("a required check that passes: %v", err)
	}
}

func TestServerDownThenUp(t *testing.T) {
	// A server of its own, to stop and start.
	srv := clickhousetest.Start(t)
	db := srv.Database(t)
	srv.MustQuery(t, fmt.Sprintf(nomadTable, db, "logs"))
	srv.Stop()
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, nomadConfig(srv.URL, db, "logs"), cctx))
	r.Send(events(nomadMeta("default", "web", "a"), "while down 1", "while down 2")...)
	sinktest.WaitFor(t, "failed attempts", func() bool { return testutil.ToFloat64(m.Errors("send")) >= 3 })
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if !r.Ack() {
		t.Fatal("not delivered after the server came back")
	}
	r.Close()
	if got := rows(t, srv, db, "logs"); len(got) != 2 {
		t.Fatalf("rows %+v", got)
	}
	if d := testutil.ToFloat64(m.Discarded("rejected")); d != 0 {
		t.Fatalf("discarded %v while the server was down", d)
	}
	// The restarted server's process is newer than the leak check's
	// baseline: stop it before the check runs.
	srv.Stop()
}

// TestHTTPAnswerDrained checks the sink reads error answers to the end so
// that the connection is reused; a server that keeps the connection open
// sees one connection for several failed inserts.
func TestHTTPAnswerDrained(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		w.WriteHeader(500)
		fmt.Fprint(w, "Code: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)"+strings.Repeat(" ", 200000))
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL, "", "t")
	cfg.InsertDeduplicationToken = TokenNever
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, cfg, cctx))
	r.Send(events(event.NewMeta("t", nil), "x")...)
	sinktest.WaitFor(t, "five failed attempts", func() bool { return testutil.ToFloat64(m.Errors("send")) >= 5 })
	mu.Lock()
	defer mu.Unlock()
	if len(conns) > 2 {
		t.Fatalf("%d connections for 5 attempts", len(conns))
	}
}
