package http

import (
	"context"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
)

const benchEvents = 1000

func benchBatch() *event.Batch {
	meta := event.NewMeta("nomad_logs", event.NewFields(
		event.Field{Key: "file", Value: event.StringValue("/opt/nomad/data/alloc/5b9c1f0e/alloc/logs/web.stdout.0")},
		event.Field{Key: "host", Value: event.StringValue("client-1")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "job_name", Value: event.StringValue("web")},
			event.Field{Key: "task_name", Value: event.StringValue("server")},
			event.Field{Key: "alloc_id", Value: event.StringValue("5b9c1f0e-8f3a-4b7e-9d2c-0a1b2c3d4e5f")},
		))},
	))
	b := &event.Batch{Events: make([]event.Event, benchEvents)}
	for i := range b.Events {
		b.Events[i] = event.Event{Timestamp: time.Unix(1700000000, int64(i)), Meta: meta,
			Message: []byte(`2024-05-06T07:08:09.123Z INFO http request method=GET path=/api/v1/items status=200 duration_ms=12`)}
	}
	return b
}

// BenchmarkEncodeBatch measures building one request body of 1000 events
// the way the sink does (and compressing it); allocs/op is per batch.
func BenchmarkEncodeBatch(b *testing.B) {
	src := benchBatch()
	for _, c := range []struct {
		name string
		enc  batch.Encoder
		gzip bool
	}{
		{"ndjson", codec.Lines{}, false},
		{"json", codec.Array{}, false},
		{"ndjson-gzip", codec.Lines{}, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			bl := batch.NewBuilder(batch.Config{MaxEvents: benchEvents, MaxBytes: 10 << 20, Timeout: time.Second}, c.enc)
			b.ReportAllocs()
			var size int
			for b.Loop() {
				src.Ack = nil
				bl.Add(batch.Track(src), src.Events)
				req := bl.Take()
				size = len(req.Body)
				if c.gzip {
					httpclient.PutGzip(httpclient.Gzip(req.Body))
				}
				req.Finish(event.Delivered)
			}
			b.SetBytes(int64(size))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchEvents), "ns/event")
		})
	}
}

// BenchmarkSend measures Send of a 1000-event request to a loopback
// server: HTTP costs per request, none per event.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	src := benchBatch()
	for _, compression := range []string{CompressionNone, CompressionGzip} {
		b.Run(compression, func(b *testing.B) {
			cfg := testConfig(srv.URL)
			cfg.Compression = compression
			s := build(b, cfg)
			defer s.client.CloseIdleConnections()
			bl := batch.NewBuilder(batch.Config{MaxEvents: benchEvents, MaxBytes: 10 << 20, Timeout: time.Second}, codec.Lines{})
			src.Ack = nil
			bl.Add(batch.Track(src), src.Events)
			req := bl.Take()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Send(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchEvents), "ns/event")
		})
	}
}
