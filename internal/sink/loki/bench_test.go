package loki

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
)

const benchEvents = 1000

// benchBatch is 1000 log lines of streams tasks (one Meta each), the way
// a node's tasks interleave.
func benchBatch(streams int) *event.Batch {
	metas := make([]*event.Meta, streams)
	for i := range metas {
		metas[i] = nomadMeta("prod", fmt.Sprintf("job-%d", i), fmt.Sprintf("5b9c1f0e-8f3a-4b7e-9d2c-0a1b2c3d4e%02d", i))
	}
	b := &event.Batch{Events: make([]event.Event, benchEvents)}
	for i := range b.Events {
		b.Events[i] = event.Event{Timestamp: time.Unix(1700000000, int64(i)), Meta: metas[i%streams],
			Message: []byte(`2024-05-06T07:08:09.123Z INFO http request method=GET path=/api/v1/items status=200 duration_ms=12`)}
	}
	return b
}

type benchCase struct {
	name    string
	streams int
	mod     func(c *Config)
}

var benchCases = []benchCase{
	{"protobuf-json-lines-1-stream", 1, func(c *Config) {}},
	{"protobuf-json-lines-20-streams", 20, func(c *Config) {}},
	{"protobuf-text-metadata-20-streams", 20, func(c *Config) {
		c.Encoding = EncodingText
		c.StructuredMetadata = map[string]string{"alloc_id": "{{ nomad.alloc_id }}", "host": "{{ host }}"}
	}},
	{"json-gzip-text-20-streams", 20, func(c *Config) { c.Format, c.Encoding = FormatJSON, EncodingText }},
	{"protobuf-tenant-per-namespace-20-streams", 20, func(c *Config) { c.TenantID = "{{ nomad.namespace }}" }},
}

func benchConfig(endpoint string, mod func(*Config)) *Config {
	c := testConfig(endpoint)
	c.Labels = map[string]string{"namespace": "{{ nomad.namespace }}", "job": "{{ nomad.job_name }}", "host": "{{ host }}"}
	c.Batch = batch.Config{MaxEvents: benchEvents, MaxBytes: 10 << 20, Timeout: time.Second}
	mod(c)
	return c
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

// BenchmarkEncode measures what the sink does to turn 1000 events into
// the compressed body of a push: the lines (the driver's Encoder), the
// tenant split, grouping and sorting by stream, the protobuf or JSON body
// and its compression. allocs/op is per request of 1000 events; MB/s is of
// the body before compression.
func BenchmarkEncode(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			cfg := benchConfig("http://127.0.0.1:1", c.mod)
			s := build(b, cfg)
			src := benchBatch(c.streams)
			bl := batch.NewBuilder(cfg.Batch, lineEncoder{text: cfg.Encoding == EncodingText})
			st := s.states.Get().(*sendState)
			now := time.Now()
			var size int
			b.ReportAllocs()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				src.Ack = nil
				bl.Add(batch.Track(src), src.Events)
				req := bl.Take()
				st.load(req)
				st.tenants.split(s.tenant, st.evs)
				size = 0
				for g := range st.tenants.len() {
					_, idx := st.tenants.group(g)
					st.body = st.b.build(st.body[:0], st.evs, st.lines, idx, now)
					size += len(st.body)
					if s.compression == CompressionSnappy {
						st.packed = s2.EncodeSnappy(st.packed[:cap(st.packed)], st.body)
					} else if s.compression == CompressionGzip {
						httpclient.PutGzip(httpclient.Gzip(st.body))
					}
				}
				st.reset()
				req.Finish(event.Delivered)
			}
			reportPerEvent(b, &before)
			b.SetBytes(int64(size))
		})
	}
}

// BenchmarkSend measures Send of a 1000-event request to a loopback server
// that reads the body and answers 204: encoding and HTTP together.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, c := range benchCases[:2] {
		b.Run(c.name, func(b *testing.B) {
			cfg := benchConfig(srv.URL, c.mod)
			s := build(b, cfg)
			defer s.client.CloseIdleConnections()
			src := benchBatch(c.streams)
			bl := batch.NewBuilder(cfg.Batch, lineEncoder{})
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
