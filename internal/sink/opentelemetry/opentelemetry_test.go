package opentelemetry

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

func nomadMeta(task string) *event.Meta {
	return event.NewMeta("tasks", event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue("nomad_logs")},
		event.Field{Key: "host", Value: event.StringValue("node-1")},
		event.Field{Key: "stream", Value: event.StringValue("stderr")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "namespace", Value: event.StringValue("payments")},
			event.Field{Key: "job_name", Value: event.StringValue("api")},
			event.Field{Key: "task_name", Value: event.StringValue(task)},
			event.Field{Key: "alloc_id", Value: event.StringValue("a-1")},
			event.Field{Key: "alloc_index", Value: event.IntValue(2)},
			event.Field{Key: "meta", Value: event.ObjectValue(event.NewFields(event.Field{Key: "team", Value: event.StringValue("core")}))},
		))},
	))
}

func k8sMeta() *event.Meta {
	return event.NewMeta("pods", event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue("kubernetes_logs")},
		event.Field{Key: "file", Value: event.StringValue("/var/log/pods/x/0.log")},
		event.Field{Key: "kubernetes", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "namespace", Value: event.StringValue("shop")},
			event.Field{Key: "pod_name", Value: event.StringValue("web-7d9")},
			event.Field{Key: "pod_uid", Value: event.StringValue("uid-1")},
			event.Field{Key: "container_name", Value: event.StringValue("nginx")},
			event.Field{Key: "node_name", Value: event.StringValue("n1")},
		))},
	))
}

var ts = time.Date(2026, 12, 7, 10, 0, 0, 5, time.UTC)

func sampleEvents() []event.Event {
	api, k8s := nomadMeta("server"), k8sMeta()
	return []event.Event{
		{Timestamp: ts, Message: []byte("started"), Meta: api, Fields: event.NewFields(
			event.Field{Key: "level", Value: event.StringValue("WARN")},
			event.Field{Key: "http", Value: event.ObjectValue(event.NewFields(event.Field{Key: "status", Value: event.IntValue(503)}))},
		)},
		{Timestamp: ts.Add(time.Second), Message: []byte("cut"), Meta: k8s, Flags: event.Truncated, Fields: event.NewFields(
			event.Field{Key: "level", Value: event.StringValue("error")},
		)},
		{Timestamp: ts.Add(2 * time.Second), Message: []byte("plain"), Meta: api},
	}
}

// TestResourcesAndRecords: what the Collector's receiver gets: one resource
// per stream with the semantic-convention attributes, records with their
// timestamp, severity, body and attributes.
func TestResourcesAndRecords(t *testing.T) {
	for _, protocol := range []string{ProtocolHTTP, ProtocolGRPC} {
		t.Run(protocol, func(t *testing.T) {
			c := startCollector(t)
			cfg := testConfig(c, protocol)
			cfg.Batch.MaxEvents = 100
			if ok := send(t, build(t, cfg, component.Context{}), sampleEvents()); !ok[0] {
				t.Fatal("not delivered")
			}
			got := c.received()
			if len(got) != 1 {
				t.Fatalf("%d requests", len(got))
			}
			rls := got[0].ResourceLogs()
			if rls.Len() != 2 {
				t.Fatalf("%d resources, want 2 (one per stream)", rls.Len())
			}
			want := map[string]string{
				"service.name": "server", "host.name": "node-1", "nomad.namespace": "payments", "nomad.job_name": "api",
				"nomad.alloc_id": "a-1", "nomad.alloc_index": "2", "nomad.meta.team": "core", "drover.source_type": "nomad_logs",
			}
			checkAttrs(t, rls.At(0).Resource().Attributes(), want)
			checkAttrs(t, rls.At(1).Resource().Attributes(), map[string]string{
				"service.name": "nginx", "k8s.namespace.name": "shop", "k8s.pod.name": "web-7d9", "k8s.pod.uid": "uid-1",
				"k8s.container.name": "nginx", "k8s.node.name": "n1",
			})
			if n := rls.At(0).ScopeLogs().At(0).Scope().Name(); n != ScopeName {
				t.Errorf("scope %q", n)
			}
			recs := rls.At(0).ScopeLogs().At(0).LogRecords()
			if recs.Len() != 2 {
				t.Fatalf("%d records of the first stream", recs.Len())
			}
			r0 := recs.At(0)
			if r0.Body().Str() != "started" || r0.Timestamp().AsTime() != ts || r0.SeverityNumber() != plog.SeverityNumberWarn ||
				r0.SeverityText() != "WARN" || r0.ObservedTimestamp() == 0 {
				t.Errorf("record %v %v %v %q", r0.Body().AsString(), r0.Timestamp(), r0.SeverityNumber(), r0.SeverityText())
			}
			checkAttrs(t, r0.Attributes(), map[string]string{"log.iostream": "stderr", "http.status": "503", "level": "WARN"})
			if recs.At(1).SeverityNumber() != plog.SeverityNumberUnspecified {
				t.Errorf("a record without a level has severity %v", recs.At(1).SeverityNumber())
			}
			r1 := rls.At(1).ScopeLogs().At(0).LogRecords().At(0)
			checkAttrs(t, r1.Attributes(), map[string]string{"log.file.path": "/var/log/pods/x/0.log", "drover.truncated": "true"})
			if r1.SeverityNumber() != plog.SeverityNumberError {
				t.Errorf("severity %v", r1.SeverityNumber())
			}
		})
	}
}

func checkAttrs(t *testing.T, m pcommon.Map, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := m.Get(k)
		if !ok || got.AsString() != v {
			t.Errorf("attribute %s = %q (%v), want %q; all: %v", k, got.AsString(), ok, v, m.AsRaw())
		}
	}
}

func TestBodyFields(t *testing.T) {
	c := startCollector(t)
	cfg := testConfig(c, ProtocolHTTP)
	cfg.Body = BodyFields
	cfg.Batch.MaxEvents = 100
	send(t, build(t, cfg, component.Context{}), sampleEvents()[:1])
	body := c.received()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body()
	if body.Type() != pcommon.ValueTypeMap {
		t.Fatalf("body %v", body.AsRaw())
	}
	m := body.Map().AsRaw()
	if m["message"] != "started" || m["level"] != "WARN" || m["http"].(map[string]any)["status"] != int64(503) {
		t.Errorf("body %v", m)
	}
}

func TestSeverity(t *testing.T) {
	for level, want := range map[string]plog.SeverityNumber{
		"trace": plog.SeverityNumberTrace, "DEBUG": plog.SeverityNumberDebug, "info": plog.SeverityNumberInfo,
		"notice": plog.SeverityNumberInfo, "Warning": plog.SeverityNumberWarn, "err": plog.SeverityNumberError,
		"CRITICAL": plog.SeverityNumberFatal, "panic": plog.SeverityNumberFatal, "verbose?": plog.SeverityNumberUnspecified,
	} {
		if got := severity(level); got != want {
			t.Errorf("severity(%q) = %v, want %v", level, got, want)
		}
	}
}

// partialHTTP is an OTLP/HTTP endpoint that answers every export with a
// partial success rejecting rejected records.
func partialHTTP(t *testing.T, rejected int64, requests *atomic.Int64) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Error(err)
				return
			}
			body = zr
		}
		data, _ := io.ReadAll(body)
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(data); err != nil {
			t.Errorf("undecodable export request: %v", err)
		}
		resp := plogotlp.NewExportResponse()
		resp.PartialSuccess().SetRejectedLogRecords(rejected)
		resp.PartialSuccess().SetErrorMessage("log record too large")
		out, _ := resp.MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type partialGRPC struct {
	plogotlp.UnimplementedGRPCServer
	rejected int64
	requests atomic.Int64
}

func (p *partialGRPC) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	p.requests.Add(1)
	resp := plogotlp.NewExportResponse()
	resp.PartialSuccess().SetRejectedLogRecords(p.rejected)
	resp.PartialSuccess().SetErrorMessage("log record too large")
	return resp, nil
}

func serveGRPC(t *testing.T, srv plogotlp.GRPCServer, opts ...grpc.ServerOption) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(opts...)
	plogotlp.RegisterGRPCServer(gs, srv)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	return ln.Addr().String()
}

// TestPartialSuccess: a receiver that takes a request but rejects some of
// its records: that many events are counted as discarded
// ("partial_success") with the receiver's reason in the health condition
// and the log, the rest as sent, nothing is retried, and the batches are
// released ok.
func TestPartialSuccess(t *testing.T) {
	var httpRequests atomic.Int64
	grpcSrv := &partialGRPC{rejected: 2}
	for _, v := range []struct {
		protocol, endpoint string
		requests           func() int64
	}{
		{ProtocolHTTP, partialHTTP(t, 2, &httpRequests), httpRequests.Load},
		{ProtocolGRPC, serveGRPC(t, grpcSrv), grpcSrv.requests.Load},
	} {
		t.Run(v.protocol, func(t *testing.T) {
			cfg := NewConfig()
			cfg.Protocol, cfg.Endpoint = v.protocol, v.endpoint
			cfg.Batch.MaxEvents, cfg.Batch.Timeout = 5, time.Millisecond
			cfg.Request.Concurrency = 1
			m := metrics.ForTest("sink", Type, t.Name())
			rep := health.NewReporter("sink", Type, t.Name(), nil)
			evs := append(sampleEvents(), sampleEvents()[:2]...)
			ok := send(t, build(t, cfg, component.Context{Metrics: m, Health: rep}), evs)
			if !ok[0] {
				t.Fatal("a partly rejected batch must be released ok (the source moves past it)")
			}
			if d := testutil.ToFloat64(m.Discarded(ReasonPartialSuccess)); d != 2 {
				t.Errorf("discarded %v, want 2", d)
			}
			if conds := rep.Conditions(); len(conds) != 1 || conds[0].Name != health.ConditionRejections ||
				conds[0].Reason != ReasonPartialSuccess || !strings.Contains(conds[0].Message, "log record too large") {
				t.Errorf("health after a partial success: %+v", conds)
			}
			if s := testutil.ToFloat64(m.SentEvents); s != 3 {
				t.Errorf("sent %v, want 3", s)
			}
			if n := v.requests(); n != 1 {
				t.Errorf("%d requests; a partial success is not retried", n)
			}
		})
	}
}

// TestGRPCErrors: how the sink treats the receiver's gRPC answers, by the
// delivery policy: InvalidArgument refuses the request for its content, so
// it is sent again in halves down to single events, which are rejected;
// every other code is retried with a reason in the sink's health.
func TestGRPCErrors(t *testing.T) {
	for code, reason := range map[codes.Code]string{
		codes.InvalidArgument:    "", // split, then rejected
		codes.FailedPrecondition: "refused",
		codes.Unavailable:        "unreachable",
		codes.ResourceExhausted:  "throttled",
		codes.Unauthenticated:    "unauthorized",
		codes.PermissionDenied:   "forbidden",
		codes.Unimplemented:      "not_found",
		codes.Internal:           "server_error",
		codes.DataLoss:           "server_error",
	} {
		srv := &failingGRPC{code: code}
		cfg := NewConfig()
		cfg.Protocol, cfg.Endpoint = ProtocolGRPC, serveGRPC(t, srv)
		cfg.Batch.MaxEvents, cfg.Batch.Timeout = 5, time.Millisecond
		cfg.Request.RetryInitialBackoff, cfg.Request.RetryMaxBackoff = time.Millisecond, 2*time.Millisecond
		m := metrics.ForTest("sink", Type, code.String())
		rep := health.NewReporter("sink", Type, code.String(), nil)
		s := build(t, cfg, component.Context{Metrics: m, Health: rep})
		in := make(chan *event.Batch, 1)
		acked := make(chan bool, 1)
		in <- &event.Batch{Events: sampleEvents(), Ack: event.NewAck(func(ok bool) { acked <- ok })}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx, in) }()
		if reason == "" {
			select {
			case ok := <-acked:
				if d := testutil.ToFloat64(m.Discarded("bad_request")); !ok || d != 3 {
					t.Errorf("%v: ok %v, discarded %v", code, ok, d)
				}
				// 1 request of 3, then halves of 1 and 2, then 2 singles.
				if n := srv.requests.Load(); n != 5 {
					t.Errorf("%v: %d requests, want 5 (the request, then halves down to single events)", code, n)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("%v: not refused", code)
			}
		} else {
			deadline := time.Now().Add(10 * time.Second)
			for srv.requests.Load() < 3 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if srv.requests.Load() < 3 || testutil.ToFloat64(m.Discarded("rejected")) != 0 {
				t.Errorf("%v: %d attempts, discarded %v; want retries", code, srv.requests.Load(), testutil.ToFloat64(m.Discarded("rejected")))
			}
			if conds := rep.Conditions(); len(conds) != 1 || conds[0].Reason != reason {
				t.Errorf("%v: health %+v, want delivery failing with reason %q", code, conds, reason)
			}
		}
		cancel()
		<-done
		close(in)
	}
}

type failingGRPC struct {
	plogotlp.UnimplementedGRPCServer
	code     codes.Code
	requests atomic.Int64
}

func (f *failingGRPC) Export(context.Context, plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	f.requests.Add(1)
	return plogotlp.NewExportResponse(), status.Error(f.code, "test")
}

func TestConfig(t *testing.T) {
	c, err := sinktest.LoadConfig(t, Type, `
  protocol       = "grpc"
  endpoint       = "https://collector:4317"
  compression    = "none"
  headers        = { "x-tenant" = "a" }
  body           = "fields"
  severity_field = "severity"
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.(*Config)
	if got.Protocol != "grpc" || got.Compression != "none" || got.Body != "fields" || got.SeverityField != "severity" || got.Path != DefaultPath {
		t.Fatalf("decoded %+v", got)
	}
	d, err := sinktest.LoadConfig(t, Type, `endpoint = "http://collector:4318"`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if def := d.(*Config); def.Protocol != "http" || def.Encoding != "protobuf" || def.Compression != "gzip" || def.Body != "message" || def.SeverityField != "level" {
		t.Fatalf("defaults %+v", def)
	}
	for _, tc := range []struct{ body, field string }{
		{`endpoint = "collector:4318"`, "endpoint"},
		{`endpoint = "ftp://collector"`, "endpoint"},
		{"protocol = \"grpc\"\n endpoint = \"collector\"", "endpoint"},
		{"protocol = \"grpc\"\n endpoint = \"http://c:4317/v1\"", "endpoint"},
		{"protocol = \"grpc\"\n endpoint = \"c:4317\"\n encoding = \"json\"", "encoding"},
		{"endpoint = \"http://c\"\n path = \"v1/logs\"", "path"},
		{"endpoint = \"http://c\"\n headers = { \"Content-Length\" = \"1\" }", "headers"},
		{"endpoint = \"http://c\"\n batch {\n max_events = 0\n }", "batch.max_events"},
	} {
		_, err := sinktest.LoadConfig(t, Type, tc.body, nil)
		if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "sink.hcl:") {
			t.Errorf("%q: error %v does not name %s", tc.body, err, tc.field)
		}
	}
	for _, enum := range []string{`protocol = "thrift"`, `body = "json"`, `compression = "zstd"`} {
		if _, err := sinktest.LoadConfig(t, Type, "endpoint = \"http://c\"\n"+enum, nil); err == nil || !strings.Contains(err.Error(), "Expected one of") {
			t.Errorf("%s: %v", enum, err)
		}
	}
}

// BenchmarkEncode measures building and marshalling one request of 500
// events from 10 streams.
func BenchmarkEncode(b *testing.B) {
	metas := make([]*event.Meta, 10)
	for i := range metas {
		metas[i] = nomadMeta("task-" + string(rune('a'+i)))
	}
	evs := make([]event.Event, 500)
	for i := range evs {
		evs[i] = event.Event{Timestamp: ts, Meta: metas[i%10],
			Message: []byte(`{"level":"info","msg":"GET /api/v1/orders 200","duration_ms":12,"user":"u-12345"}`),
			Fields:  event.NewFields(event.Field{Key: "level", Value: event.StringValue("info")})}
	}
	iter := func(yield func(int, *event.Event) bool) {
		for i := range evs {
			if !yield(i, &evs[i]) {
				return
			}
		}
	}
	for _, enc := range []string{EncodingProtobuf, EncodingJSON} {
		b.Run(enc, func(b *testing.B) {
			e := newEncoder(BodyMessage, "level")
			b.ReportAllocs()
			var size int
			for b.Loop() {
				req := plogotlp.NewExportRequestFromLogs(e.encode(iter, 1))
				var out []byte
				var err error
				if enc == EncodingJSON {
					out, err = req.MarshalJSON()
				} else {
					out, err = req.MarshalProto()
				}
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
			b.ReportMetric(float64(size)/float64(len(evs)), "bytes/event")
		})
	}
}
