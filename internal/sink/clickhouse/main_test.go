package clickhouse

import (
	"os"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/clickhouse/clickhousetest"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// TestMain starts one ClickHouse server for the package's tests that need
// it (on first use) and stops it at the end.
func TestMain(m *testing.M) { os.Exit(clickhousetest.Main(m)) }

// testConfig is a configuration for tests: small batches sent within
// milliseconds, one request in flight, retries within milliseconds.
func testConfig(endpoint, database, table string) *Config {
	c := NewConfig()
	c.Endpoint, c.Database, c.Table = endpoint, database, table
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

// nomadMeta is the metadata of one Nomad task stream, as discovery builds
// it.
func nomadMeta(namespace, job, allocID string) *event.Meta {
	nomad := []event.Field{
		{Key: "namespace", Value: event.StringValue(namespace)},
		{Key: "job_name", Value: event.StringValue(job)},
		{Key: "task_name", Value: event.StringValue("server")},
		{Key: "alloc_id", Value: event.StringValue(allocID)},
		{Key: "alloc_index", Value: event.IntValue(0)},
		{Key: "meta", Value: event.ObjectValue(event.NewFields(event.Field{Key: "team", Value: event.StringValue("core")}))},
	}
	if namespace == "" {
		nomad = nomad[1:]
	}
	return event.NewMeta("nomad", event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue("nomad_logs")},
		event.Field{Key: "host", Value: event.StringValue("node-1")},
		event.Field{Key: "stream", Value: event.StringValue("stdout")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(nomad...))},
	))
}

// events returns one event per message, with the given metadata.
func events(meta *event.Meta, msgs ...string) []event.Event {
	out := make([]event.Event, len(msgs))
	for i, m := range msgs {
		out[i] = event.Event{Timestamp: time.Date(2026, 11, 21, 12, 0, i, 0, time.UTC), Message: []byte(m), Meta: meta}
	}
	return out
}
