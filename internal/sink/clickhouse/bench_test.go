package clickhouse

import (
	"runtime"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
)

const benchEvents = 1000

// benchBatch is 1000 log lines of three Nomad namespaces, interleaved.
func benchBatch() *event.Batch {
	metas := []*event.Meta{
		nomadMeta("default", "web", "5b9c1f0e-8f3a-4b7e-9d2c-0a1b2c3d4e5f"),
		nomadMeta("batch", "backup", "0a1b2c3d-8f3a-4b7e-9d2c-5b9c1f0e4e5f"),
		nomadMeta("system", "agent", "9d2c0a1b-8f3a-4b7e-5b9c-1f0e2c3d4e5f"),
	}
	b := &event.Batch{Events: make([]event.Event, benchEvents)}
	for i := range b.Events {
		b.Events[i] = event.Event{Timestamp: time.Unix(1700000000, int64(i)), Meta: metas[i%len(metas)],
			Message: []byte(`2024-05-06T07:08:09.123Z INFO http request method=GET path=/api/v1/items status=200 duration_ms=12`)}
	}
	return b
}

// BenchmarkEncodeInsert measures what the sink does to turn 1000 events
// into INSERT bodies: JSONEachRow encoding as the events enter a request,
// rendering each event's target, and, with several targets, gathering each
// target's rows into its own body. allocs/event is per event; with one
// target the request's body is sent as it is.
func BenchmarkEncodeInsert(b *testing.B) {
	src := benchBatch()
	for _, c := range []struct{ name, table string }{
		{"one-table", "nomad_logs"},
		{"table-per-namespace", "nomad_{{ nomad.namespace }}"},
		{"table-per-job", "nomad_{{ nomad.namespace }}_{{ nomad.job_name }}"},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := testConfig("http://127.0.0.1:8123", "logs", c.table)
			r := newRouter(cfg)
			bl := batch.NewBuilder(batch.Config{MaxEvents: benchEvents, MaxBytes: 10 << 20, Timeout: time.Second}, codec.Lines{Encoding: codec.JSON})
			sc := &scratch{}
			var groups []*group
			size := 0
			perEvent(b, func() {
				src.Ack = nil
				bl.Add(batch.Track(src), src.Events)
				req := bl.Take()
				groups, sc.key = r.route(req, sc.key)
				size = 0
				for _, g := range groups {
					sc.body = g.body(req, sc.body[:0])
					size += len(sc.body)
				}
				req.Finish(event.Delivered)
			})
			b.SetBytes(int64(size))
		})
	}
}

// perEvent runs fn, which handles benchEvents events, as the benchmark's
// loop and reports ns/event and allocs/event besides the per-op figures.
func perEvent(b *testing.B, fn func()) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		fn()
	}
	runtime.ReadMemStats(&after)
	n := float64(b.N * benchEvents)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/event")
}

// BenchmarkCompress measures gzip of a 1000-event body, per event.
func BenchmarkCompress(b *testing.B) {
	src := benchBatch()
	bl := batch.NewBuilder(batch.Config{MaxEvents: benchEvents, MaxBytes: 10 << 20, Timeout: time.Second}, codec.Lines{Encoding: codec.JSON})
	src.Ack = nil
	bl.Add(batch.Track(src), src.Events)
	req := bl.Take()
	defer req.Finish(event.Delivered)
	b.SetBytes(int64(len(req.Body)))
	perEvent(b, func() { httpclient.PutGzip(httpclient.Gzip(req.Body)) })
}
