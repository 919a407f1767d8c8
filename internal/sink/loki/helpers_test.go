package loki

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// testConfig is a fast configuration against endpoint: small batches, a
// short batch timeout and millisecond backoff.
func testConfig(endpoint string) *Config {
	c := NewConfig()
	c.Endpoint = endpoint
	c.Labels = map[string]string{"job": "{{ nomad.job_name }}"}
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
func nomadMeta(namespace, job, alloc string) *event.Meta {
	return event.NewMeta("nomad_logs", event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue("nomad_logs")},
		event.Field{Key: "host", Value: event.StringValue("node-1")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "namespace", Value: event.StringValue(namespace)},
			event.Field{Key: "job_name", Value: event.StringValue(job)},
			event.Field{Key: "alloc_id", Value: event.StringValue(alloc)},
		))},
	))
}

// ev is an event of meta with a message and a time.
func ev(meta *event.Meta, msg string, ts time.Time) event.Event {
	return event.Event{Timestamp: ts, Message: []byte(msg), Meta: meta}
}

// message extracts "message" from a JSON line.
func message(t testing.TB, line string) string {
	t.Helper()
	var v struct{ Message *string }
	if err := json.Unmarshal([]byte(line), &v); err != nil || v.Message == nil {
		t.Errorf("line %q is not a JSON event: %v", line, err)
		return ""
	}
	return *v.Message
}
