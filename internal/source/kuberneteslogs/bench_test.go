package kuberneteslogs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

type discardEmitter struct{}

func (discardEmitter) Emit(context.Context, *event.Batch) error { return nil }

// BenchmarkDecode decodes batches of 512 CRI records (one in 64 split in
// two P/F pieces) as the source does between the follower and its output.
func BenchmarkDecode(b *testing.B) {
	sm, err := newSourceMetrics(metrics.New().Component("source", "kubernetes_logs", "bench"))
	if err != nil {
		b.Fatal(err)
	}
	d := newDecoder(discardEmitter{}, 1<<20, time.Hour, sm, nil)
	meta := event.NewMeta("bench", event.NewFields(event.Field{Key: "kubernetes", Value: event.StringValue("x")}))
	var lines [][]byte
	var size int
	for i := range 512 {
		tag := "F"
		if i%64 == 0 {
			tag = "P"
		}
		l := fmt.Appendf(nil, "2026-12-07T17:20:11.%09dZ stdout %s {\"level\":\"info\",\"msg\":\"request served\",\"path\":\"/api/v1/items\",\"n\":%d}", i, tag, i)
		lines = append(lines, l)
		size += len(l) + 1
	}
	evs := make([]event.Event, len(lines))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for i, l := range lines {
			evs[i] = event.Event{Message: l, Meta: meta}
		}
		batch := &event.Batch{Events: evs, Ack: event.NewAck(nil)}
		if err := d.Emit(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		batch.Ack.Release(event.Delivered)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/event")
}
