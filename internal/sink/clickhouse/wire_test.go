package clickhouse

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

func TestRecentServerGetsAsyncInsertAndToken(t *testing.T) {
	dest, srv := newFakeServer(t, "23.8.1.1", recentSettings)
	cfg := testConfig(srv.URL, "logs", "nomad")
	cfg.AsyncInsert = true
	r := sinktest.Start(t, build(t, cfg))
	r.Send(events(nomadMeta("default", "web", "a"), "one", "two")...)
	if !r.Ack() {
		t.Fatal("not delivered")
	}
	r.Close()
	ins := dest.allInserts()
	if len(ins) != 1 {
		t.Fatalf("%d inserts", len(ins))
	}
	p := ins[0].params
	if p.Get("async_insert") != "1" || p.Get("wait_for_async_insert") != "1" || p.Get("async_insert_deduplicate") != "1" ||
		!strings.HasPrefix(p.Get("insert_deduplication_token"), "drover-") {
		t.Fatalf("settings %v", p)
	}
	if ins[0].target != "`logs`.`nomad`" || !ins[0].gzip {
		t.Fatalf("target %s gzip %v", ins[0].target, ins[0].gzip)
	}
}

func TestTokenModes(t *testing.T) {
	cases := []struct {
		mode     string
		settings []string
		want     bool
	}{
		{TokenAuto, recentSettings, true},
		{TokenAuto, nil, false},
		{TokenNever, recentSettings, false},
		{TokenAlways, recentSettings, true},
		{TokenAlways, nil, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.mode, len(c.settings)), func(t *testing.T) {
			dest, srv := newFakeServer(t, "22.8.1.1", c.settings)
			cfg := testConfig(srv.URL, "", "t")
			cfg.InsertDeduplicationToken = c.mode
			r := sinktest.Start(t, build(t, cfg))
			r.Send(events(event.NewMeta("t", nil), "x")...)
			if !r.Ack() {
				t.Fatal("not delivered")
			}
			r.Close()
			if got := dest.allInserts()[0].params.Has("insert_deduplication_token"); got != c.want {
				t.Fatalf("token sent: %v, want %v", got, c.want)
			}
		})
	}
}

// TestRetryOfALostAnswerIsDeduplicated: the server stores the first
// attempt but the answer is lost (connection closed); the retry carries
// the same token and the server does not store it again.
func TestRetryOfALostAnswerIsDeduplicated(t *testing.T) {
	dest, srv := newFakeServer(t, "23.8.1.1", recentSettings)
	var lost atomic.Int32
	dest.before = func(w http.ResponseWriter, ins *fakeInsert) bool {
		if lost.Add(1) <= 2 {
			dest.store(ins)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return true
		}
		return false
	}
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, testConfig(srv.URL, "logs", "nomad"), cctx))
	r.Send(events(nomadMeta("default", "web", "a"), "one", "two", "three")...)
	if !r.Ack() {
		t.Fatal("not delivered")
	}
	r.Close()
	ins := dest.allInserts()
	if len(ins) != 3 {
		t.Fatalf("%d attempts, want 3", len(ins))
	}
	token := ins[0].params.Get("insert_deduplication_token")
	for i, in := range ins {
		if got := in.params.Get("insert_deduplication_token"); got != token || token == "" {
			t.Fatalf("attempt %d has token %q, the first had %q", i, got, token)
		}
	}
	if !ins[0].stored || !ins[1].deduplicated || !ins[2].deduplicated {
		t.Fatalf("stored/deduplicated: %+v %+v %+v", ins[0], ins[1], ins[2])
	}
	if got := dest.Received(); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("stored %q", got)
	}
	if testutil.ToFloat64(m.Retries) != 2 {
		t.Fatalf("retries %v", testutil.ToFloat64(m.Retries))
	}
}

func TestDedupToken(t *testing.T) {
	a := dedupToken(target{"logs", "t"}, []byte(`{"message":"x"}`+"\n"))
	if a != dedupToken(target{"logs", "t"}, []byte(`{"message":"x"}`+"\n")) {
		t.Fatal("token not stable")
	}
	for _, other := range []string{
		dedupToken(target{"logs", "u"}, []byte(`{"message":"x"}`+"\n")),
		dedupToken(target{"log", "st"}, []byte(`{"message":"x"}`+"\n")),
		dedupToken(target{"logs", "t"}, []byte(`{"message":"y"}`+"\n")),
	} {
		if other == a {
			t.Fatalf("different inserts share the token %s", a)
		}
	}
	if len(a) != len(tokenPrefix)+32 {
		t.Fatalf("token %q", a)
	}
}

func TestDetectionRefusedSendsOnlyConfiguredSettings(t *testing.T) {
	dest, srv := newFakeServer(t, "23.8.1.1", recentSettings)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("query") == "" {
			exception(w, 403, 497, "ACCESS_DENIED", "drover: Not enough privileges. To execute this query it's necessary to have grant SELECT ON system.settings")
			return
		}
		dest.ServeHTTP(w, r)
	}))
	defer refusing.Close()
	_ = srv
	cfg := testConfig(refusing.URL, "", "t")
	cfg.AsyncInsert = true
	cctx, logs, _ := sinktest.Recorded(t, Type)
	r := sinktest.Start(t, build(t, cfg, cctx))
	r.Send(events(event.NewMeta("t", nil), "x")...)
	if !r.Ack() {
		t.Fatal("not delivered")
	}
	r.Close()
	p := dest.allInserts()[0].params
	if p.Get("async_insert") != "1" || p.Has("insert_deduplication_token") {
		t.Fatalf("settings %v: async_insert is configured and sent, the token is not known to work", p)
	}
	if msgs := logs.Messages(slog.LevelWarn); len(msgs) != 1 || !strings.Contains(msgs[0], "could not detect") {
		t.Fatalf("warnings %q", msgs)
	}
}

func TestDetectionRetriedUntilTheServerAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // connections are refused until the server starts
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	r := sinktest.Start(t, build(t, testConfig("http://"+addr, "", "t"), cctx))
	r.Send(events(event.NewMeta("t", nil), "x")...)
	sinktest.WaitFor(t, "failed attempts", func() bool { return testutil.ToFloat64(m.Errors("send")) >= 2 })

	dest := &fakeServer{t: t, version: "23.8.1.1", settings: recentSettings, tokens: map[string]bool{}}
	var ln net.Listener
	sinktest.WaitFor(t, "the port", func() bool { ln, err = net.Listen("tcp", addr); return err == nil })
	srv := httptest.NewUnstartedServer(dest)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	if !r.Ack() {
		t.Fatal("not delivered")
	}
	r.Close()
	if !dest.allInserts()[0].params.Has("insert_deduplication_token") {
		t.Fatal("the detection that failed at first was not made again")
	}
}

// TestTargetsFailIndependently: one request holds events of three tables;
// one table accepts, one fails transiently for a while, one refuses every
// row (a data error without a row number: split down to single rows). Only
// the failing table's events are sent again; the accepted ones are not
// duplicated, the refused ones are discarded.
func TestTargetsFailIndependently(t *testing.T) {
	dest, srv := newFakeServer(t, "23.8.1.1", recentSettings)
	var transient atomic.Int32
	dest.before = func(w http.ResponseWriter, ins *fakeInsert) bool {
		switch ins.target {
		case "`logs`.`nomad_batch`":
			if transient.Add(1) <= 2 {
				exception(w, 500, 252, "TOO_MANY_PARTS", "Too many parts (300). Merges are processing significantly slower than inserts")
				return true
			}
		case "`logs`.`nomad_system`":
			exception(w, 400, 117, "INCORRECT_DATA", "Cannot read all data")
			return true
		}
		return false
	}
	cctx := sinktest.Context(t, Type)
	m := cctx.Metrics
	cfg := testConfig(srv.URL, "logs", "nomad_{{ nomad.namespace }}")
	r := sinktest.Start(t, build(t, cfg, cctx))
	web, backup, sys := nomadMeta("default", "web", "a"), nomadMeta("batch", "backup", "b"), nomadMeta("system", "agent", "c")
	var evs []event.Event
	for i := range 6 {
		evs = append(evs, events([]*event.Meta{web, backup, sys}[i%3], fmt.Sprint("m", i))...)
	}
	r.Send(evs...)
	if !r.Ack() {
		t.Fatal("not released ok")
	}
	r.Close()
	count := map[string]int{}
	for _, in := range dest.allInserts() {
		count[in.target]++
	}
	if count["`logs`.`nomad_default`"] != 1 || count["`logs`.`nomad_batch`"] != 3 || count["`logs`.`nomad_system`"] != 3 {
		t.Fatalf("inserts per table %v", count)
	}
	got := dest.Received()
	slices.Sort(got)
	if !slices.Equal(got, []string{"m0", "m1", "m3", "m4"}) {
		t.Fatalf("stored %q", got)
	}
	if d, s := testutil.ToFloat64(m.Discarded("incorrect_data")), testutil.ToFloat64(m.SentEvents); d != 2 || s != 4 {
		t.Fatalf("discarded %v sent %v", d, s)
	}
}

func TestRetryAfterFromAProxy(t *testing.T) {
	dest, srv := newFakeServer(t, "23.8.1.1", recentSettings)
	dest.SetMode(sinktest.FailTransient)
	failed := make(chan time.Time, 1)
	dest.transient = func(w http.ResponseWriter) {
		failed <- time.Now()
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		dest.SetMode(sinktest.Accept)
	}
	r := sinktest.Start(t, build(t, testConfig(srv.URL, "", "t")))
	r.Send(events(event.NewMeta("t", nil), "x")...)
	if !r.Ack() {
		t.Fatal("not delivered")
	}
	r.Close()
	ins := dest.allInserts()
	if len(ins) != 2 {
		t.Fatalf("%d inserts", len(ins))
	}
	if gap := time.Since(<-failed); gap < 900*time.Millisecond {
		t.Fatalf("retried after %s despite Retry-After: 1", gap)
	}
}

func TestUncompressedBody(t *testing.T) {
	dest, srv := newFakeServer(t, "23.8.1.1", recentSettings)
	cfg := testConfig(srv.URL, "", "t")
	cfg.Compression = CompressionNone
	r := sinktest.Start(t, build(t, cfg))
	r.Send(events(event.NewMeta("t", nil), "x")...)
	if !r.Ack() {
		t.Fatal("not delivered")
	}
	r.Close()
	if dest.allInserts()[0].gzip {
		t.Fatal("compressed although compression = none")
	}
}
