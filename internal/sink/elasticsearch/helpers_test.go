package elasticsearch

import (
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// testConfig is a fast configuration against endpoint: one request in
// flight, small batches, a short batch timeout and millisecond backoff.
func testConfig(endpoint string) *Config {
	c := NewConfig()
	c.Endpoint = endpoint
	c.Batch = batch.Config{MaxEvents: 10, MaxBytes: 1 << 20, Timeout: 2 * time.Millisecond}
	c.Request = driver.RequestConfig{Concurrency: 1, Timeout: 5 * time.Second,
		RetryInitialBackoff: time.Millisecond, RetryMaxBackoff: 5 * time.Millisecond}
	return c
}

// build builds a sink of cfg; cctx defaults to sinktest.Context.
func build(t testing.TB, cfg *Config, cctx ...component.Context) *Sink {
	t.Helper()
	return sinktest.Build(t, Type, New, cfg, cctx...)
}

// nomadMeta is the metadata of a Nomad task stream.
func nomadMeta(namespace, job string) *event.Meta {
	return event.NewMeta("nomad_logs", event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue("nomad_logs")},
		event.Field{Key: "host", Value: event.StringValue("node-1")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "namespace", Value: event.StringValue(namespace)},
			event.Field{Key: "job_name", Value: event.StringValue(job)},
		))},
	))
}

// ev is an event of meta with a message.
func ev(meta *event.Meta, msg string) event.Event {
	return event.Event{Timestamp: time.Unix(1700000000, 123456789), Message: []byte(msg), Meta: meta}
}
