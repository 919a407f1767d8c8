package elasticsearch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
)

const benchEvents = 1000

// benchBatch is 1000 log lines of 20 tasks (one Meta each).
func benchBatch() *event.Batch {
	metas := make([]*event.Meta, 20)
	for i := range metas {
		metas[i] = nomadMeta("prod", fmt.Sprintf("job-%d", i))
	}
	b := &event.Batch{Events: make([]event.Event, benchEvents)}
	for i := range b.Events {
		b.Events[i] = event.Event{Timestamp: time.Unix(1700000000, int64(i)), Meta: metas[i%len(metas)],
			Message: []byte(`2024-05-06T07:08:09.123Z INFO http request method=GET path=/api/v1/items status=200 duration_ms=12`)}
	}
	return b
}

// reportPerEvent prints ns/event and allocs/event: what one event costs
// amortized over its request.
func reportPerEvent(b *testing.B, before *runtime.MemStats) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	events := float64(b.N * benchEvents)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/events, "allocs/event")
}

var benchModes = []struct {
	name string
	mod  func(c *Config)
}{
	{"bulk-constant-index", func(c *Config) {}},
	{"bulk-templated-index", func(c *Config) { c.Index = "logs-{{ nomad.namespace }}-{{ nomad.job_name }}" }},
	{"data-stream-templated", func(c *Config) {
		c.Mode = ModeDataStream
		c.DataStream.Dataset, c.DataStream.Namespace = "{{ nomad.job_name }}", "{{ nomad.namespace }}"
	}},
}

// BenchmarkEncode measures building the _bulk body of 1000 events (the
// driver's Encoder: action and document lines) and gzipping it, and reading
// the success response; allocs/op is per request of 1000 events.
func BenchmarkEncode(b *testing.B) {
	src := benchBatch()
	success := []byte(`{"errors":false,"items":[` + strings.Repeat(`{"create":{"status":201}},`, benchEvents-1) + `{"create":{"status":201}}]}`)
	for _, mode := range benchModes {
		for _, compression := range []string{CompressionNone, CompressionGzip} {
			b.Run(mode.name+"-"+compression, func(b *testing.B) {
				cfg := testConfig("http://127.0.0.1:1")
				cfg.Compression = compression
				mode.mod(cfg)
				s := build(b, cfg)
				enc := &bulkEncoder{action: s.action, route: newRouter(cfg), tsKey: cfg.TimestampField}
				bl := batch.NewBuilder(batch.Config{MaxEvents: benchEvents, MaxBytes: 10 << 20, Timeout: time.Second}, enc)
				var size int
				b.ReportAllocs()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				for b.Loop() {
					src.Ack = nil
					bl.Add(batch.Track(src), src.Events)
					req := bl.Take()
					size = len(req.Body)
					if s.gzip {
						httpclient.PutGzip(httpclient.Gzip(req.Body))
					}
					if hasErrors, err := parseBulk(success, nil); hasErrors || err != nil {
						b.Fatal(hasErrors, err)
					}
					req.Finish(event.Delivered)
				}
				reportPerEvent(b, &before)
				b.SetBytes(int64(size))
			})
		}
	}
}

// BenchmarkSend measures Send of a 1000-event request to a loopback server
// that answers a filtered success response: HTTP, compression and the
// response check, per request.
func BenchmarkSend(b *testing.B) {
	success := `{"errors":false,"items":[` + strings.Repeat(`{"index":{"status":201}},`, benchEvents-1) + `{"index":{"status":201}}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, success)
	}))
	defer srv.Close()
	src := benchBatch()
	for _, compression := range []string{CompressionNone, CompressionGzip} {
		b.Run(compression, func(b *testing.B) {
			cfg := testConfig(srv.URL)
			cfg.Compression = compression
			s := build(b, cfg)
			defer s.client.CloseIdleConnections()
			enc := &bulkEncoder{action: s.action, route: newRouter(cfg), tsKey: cfg.TimestampField}
			bl := batch.NewBuilder(batch.Config{MaxEvents: benchEvents, MaxBytes: 10 << 20, Timeout: time.Second}, enc)
			src.Ack = nil
			bl.Add(batch.Track(src), src.Events)
			req := bl.Take()
			b.ReportAllocs()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				if err := s.Send(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			reportPerEvent(b, &before)
		})
	}
}
