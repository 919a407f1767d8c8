// Package transformtest helps test transforms: a component.Context with its
// own metrics, an Emitter that collects what a transform emits (taking a
// hold on each batch's Ack as a sink would), batches whose Ack records how
// it ended, and events of a Nomad-like stream.
package transformtest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

// Context returns a component context for a transform of type typ, with
// named outputs collected by the returned Collectors.
func Context(typ string, outputs ...string) (component.Context, map[string]*Collector) {
	ctx := component.Context{
		Kind: component.KindTransform, Type: typ, ID: "test_" + typ,
		Logger:  slog.New(slog.DiscardHandler),
		Metrics: metrics.ForTest("transform", typ, "test_"+typ),
	}
	cols := map[string]*Collector{}
	if len(outputs) > 0 {
		ctx.Outputs = map[string]component.Emitter{}
		for _, o := range outputs {
			c := &Collector{}
			cols[o] = c
			ctx.Outputs[o] = c
		}
	}
	return ctx, cols
}

// Discarded returns component_discarded_events_total{reason} of ctx.
func Discarded(ctx component.Context, reason string) float64 {
	return testutil.ToFloat64(ctx.Metrics.Discarded(reason))
}

// Collector is an Emitter that keeps every batch it is given and holds its
// Ack until Release. Set Unconsumed to make it report that nothing reads it.
type Collector struct {
	mu         sync.Mutex
	batches    []*event.Batch
	Unconsumed bool
}

// Emit implements component.Emitter.
func (c *Collector) Emit(_ context.Context, b *event.Batch) error {
	b.Ack.Retain(1)
	c.mu.Lock()
	c.batches = append(c.batches, b)
	c.mu.Unlock()
	return nil
}

// Consumed reports whether something reads this output.
func (c *Collector) Consumed() bool { return !c.Unconsumed }

// Events returns every event collected, in order.
func (c *Collector) Events() []event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []event.Event
	for _, b := range c.batches {
		out = append(out, b.Events...)
	}
	return out
}

// Messages returns the messages of every event collected.
func (c *Collector) Messages() []string {
	var out []string
	for _, e := range c.Events() {
		out = append(out, string(e.Message))
	}
	return out
}

// Batches returns the batches collected.
func (c *Collector) Batches() []*event.Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*event.Batch(nil), c.batches...)
}

// Release releases every collected batch with s, as a sink would, and
// forgets them.
func (c *Collector) Release(s event.Status) {
	c.mu.Lock()
	bs := c.batches
	c.batches = nil
	c.mu.Unlock()
	for _, b := range bs {
		b.Ack.Release(s)
	}
}

// AckResult records how a batch's Ack ended.
type AckResult struct {
	mu   sync.Mutex
	done bool
	ok   bool
}

// Done reports whether the Ack ran, and with ok.
func (r *AckResult) Done() (done, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done, r.ok
}

// Batch returns a batch of evs whose Ack records its end in the result.
func Batch(evs ...event.Event) (*event.Batch, *AckResult) {
	r := &AckResult{}
	b := &event.Batch{Events: evs, Ack: event.NewAck(func(ok bool) {
		r.mu.Lock()
		r.done, r.ok = true, ok
		r.mu.Unlock()
	})}
	return b, r
}

// Meta returns stream metadata like Nomad's: nomad.namespace, job_name,
// task_name and nomad.meta from meta (key=value pairs).
func Meta(namespace, job string, meta ...string) *event.Meta {
	nf := []event.Field{
		{Key: "namespace", Value: event.StringValue(namespace)},
		{Key: "job_name", Value: event.StringValue(job)},
		{Key: "task_name", Value: event.StringValue("server")},
	}
	if len(meta) > 0 {
		var mf []event.Field
		for _, kv := range meta {
			k, v, _ := strings.Cut(kv, "=")
			mf = append(mf, event.Field{Key: k, Value: event.StringValue(v)})
		}
		nf = append(nf, event.Field{Key: "meta", Value: event.ObjectValue(event.NewFields(mf...))})
	}
	return event.NewMeta("src", event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue("nomad_logs")},
		event.Field{Key: "stream", Value: event.StringValue("stdout")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(nf...))},
	))
}

// Events returns one event per message, all of stream m.
func Events(m *event.Meta, msgs ...string) []event.Event {
	ts := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	out := make([]event.Event, len(msgs))
	for i, s := range msgs {
		out[i] = event.Event{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), Message: []byte(s), Meta: m}
	}
	return out
}

// Process runs t on one batch of evs, then releases the caller's hold as
// a source does, and returns the batch's Ack result.
func Process(t component.Transform, out component.Emitter, evs ...event.Event) (*AckResult, error) {
	b, r := Batch(evs...)
	err := t.Process(context.Background(), b, out)
	b.Ack.Release(event.Delivered)
	return r, err
}
