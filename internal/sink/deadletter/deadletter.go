// Package deadletter hands the events a sink's destination refused to the
// sink's dead-letter output, each with why it was refused, so that another
// sink keeps them:
//
//	sink "elasticsearch" "es" { ... }
//	sink "file" "es_refused" {
//	  inputs = ["es.dead_letter"]
//	  path   = "/var/lib/drover/dead-letter/es.ndjson"
//	  rotate { max_bytes = "100MiB" max_files = 10 }
//	}
//
// A dead letter is the refused event as it was (timestamp, message, its
// fields and metadata) with one field added:
//
//	"dead_letter": {"sink": "es", "reason": "mapper_parsing_exception",
//	                "error": "...", "status": 400, "time": "2026-..."}
//
// The source batch of a refused event is acknowledged only once its dead
// letter is delivered by the consumers of the output: a crash before that
// reads the event again. When nothing consumes the output, the events are
// only counted (component_discarded_events_total{reason}) and logged by the
// sink.
package deadletter

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
)

// Output is the name of every sink's dead-letter output; another sink
// consumes it as "<sink id>.dead_letter".
const Output = "dead_letter"

// Outputs is the component.Registration.Outputs of every sink: the
// dead-letter output.
func Outputs(component.Config) []string { return []string{Output} }

// Field is the key of the field a dead letter adds to the event.
const Field = "dead_letter"

// Refusal is why the destination refused an event.
type Refusal struct {
	// Reason is the discard reason ("mapper_parsing_exception", "too_old").
	Reason string
	// Err is the destination's answer; nil leaves "error" out.
	Err error
	// Status is the destination's status for it (an HTTP status, an item's
	// status); 0 leaves "status" out.
	Status int
}

// Writer hands a sink's refused events to its dead-letter output. It is
// safe for concurrent use.
type Writer struct {
	out    component.Emitter
	sink   string
	now    func() time.Time
	failed prometheus.Counter
}

// New returns the Writer of the sink built with cctx: it emits to
// cctx.Outputs[Output]; without that output (tools, tests) Write only
// reports success.
func New(cctx component.Context) *Writer {
	w := &Writer{out: cctx.Outputs[Output], sink: cctx.ID, now: time.Now}
	if cctx.Metrics != nil {
		w.failed = cctx.Metrics.Errors("dead_letter")
	}
	return w
}

// Write emits the dead letters of evs, refusal(i) being why evs[i] was
// refused, and calls done once: with true when the consumers of the output
// delivered them (or nothing consumes it), with false when they could not
// be delivered (ctx ended, a consumer gave up): the caller must then
// release the events as Failed, so that their source does not move past
// them. Write returns once the consumers took the dead letters; it blocks
// while their input is full. done may run before Write returns, or later
// on another goroutine.
func (w *Writer) Write(ctx context.Context, evs []*event.Event, refusal func(i int) Refusal, done func(ok bool)) {
	if w == nil || w.out == nil || len(evs) == 0 {
		done(true)
		return
	}
	now := w.now()
	b := &event.Batch{Events: make([]event.Event, len(evs))}
	for i, e := range evs {
		b.Events[i] = letter(e, w.sink, refusal(i), now)
	}
	failed := w.failed
	b.Ack = event.NewAck(func(ok bool) {
		if !ok && failed != nil {
			failed.Inc()
		}
		done(ok)
	})
	// Emit accounts consumers that did not take the batch as Failed; the
	// hold of NewAck is this function's.
	_ = w.out.Emit(ctx, b)
	b.Ack.Release(event.Delivered)
}

// letter returns e with the dead-letter field added.
func letter(e *event.Event, sink string, r Refusal, now time.Time) event.Event {
	fs := []event.Field{
		{Key: "sink", Value: event.StringValue(sink)},
		{Key: "reason", Value: event.StringValue(r.Reason)},
	}
	if r.Err != nil {
		fs = append(fs, event.Field{Key: "error", Value: event.StringValue(r.Err.Error())})
	}
	if r.Status != 0 {
		fs = append(fs, event.Field{Key: "status", Value: event.IntValue(int64(r.Status))})
	}
	fs = append(fs, event.Field{Key: "time", Value: event.TimeValue(now)})
	out := *e
	out.Fields = e.Fields.With(event.Field{Key: Field, Value: event.ObjectValue(event.NewFields(fs...))})
	return out
}

// RegisterSink registers a sink type with the dead-letter output every
// sink offers: newConfig returns its configuration with the defaults,
// build builds it from a decoded and validated one. It panics like
// component.Register on a duplicate type.
func RegisterSink[C component.Config, S component.Sink](typ string, newConfig func() C, build func(component.Context, C) (S, error)) {
	component.RegisterSink(typ, newConfig, Outputs, build)
}
