package kafka

import (
	"runtime"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

const benchEvents = 1000

func benchEventsOf() []event.Event {
	metas := []*event.Meta{
		nomadMeta("default", "web", "5b9c1f0e-8f3a-4b7e-9d2c-0a1b2c3d4e5f"),
		nomadMeta("batch", "backup", "0a1b2c3d-8f3a-4b7e-9d2c-5b9c1f0e4e5f"),
	}
	evs := make([]event.Event, benchEvents)
	for i := range evs {
		evs[i] = event.Event{Timestamp: time.Unix(1700000000, int64(i)), Meta: metas[i%len(metas)],
			Message: []byte(`2024-05-06T07:08:09.123Z INFO http request method=GET path=/api/v1/items status=200 duration_ms=12`)}
	}
	return evs
}

// BenchmarkEncodeRecord measures turning events into Kafka records the
// way the sink does: topic, key and headers from templates, the value in
// the configured encoding, into pooled records. allocs/event is per event;
// the records' buffers are reused once their promise ran, as in the sink.
func BenchmarkEncodeRecord(b *testing.B) {
	evs := benchEventsOf()
	for _, c := range []struct {
		name string
		mod  func(*Config)
	}{
		{"json-topic-per-namespace-keyed", func(c *Config) {}},
		{"text-constant-topic", func(c *Config) {
			c.Topic, c.Key, c.Encoding = "logs", "", "text"
		}},
		{"json-keyed-two-headers", func(c *Config) {
			c.Headers = map[string]string{"job": "{{ nomad.job_name }}", "alloc": "{{ nomad.alloc_id }}"}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := NewConfig()
			cfg.Brokers, cfg.Topic, cfg.Key = []string{"127.0.0.1:9092"}, "logs-{{ nomad.namespace }}", "{{ nomad.alloc_id }}"
			c.mod(cfg)
			enc := newEncoder(cfg)
			s := &Sink{}
			recs := make([]*record, benchEvents)
			var bytes int
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				bytes = 0
				for i := range evs {
					r := s.getRecord()
					if refusal := enc.encode(r, &evs[i]); refusal != "" {
						b.Fatal(refusal)
					}
					bytes += len(r.kr.Value) + len(r.kr.Key)
					recs[i] = r
				}
				for _, r := range recs {
					s.putRecord(r)
				}
			}
			runtime.ReadMemStats(&after)
			n := float64(b.N * benchEvents)
			b.SetBytes(int64(bytes))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/event")
		})
	}
}
