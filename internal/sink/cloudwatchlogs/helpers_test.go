package cloudwatchlogs

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/cloudwatchlogs/cwltest"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig is a configuration for srv with fast retries and batches.
func testConfig(srv *cwltest.Server) *Config {
	c := NewConfig()
	c.Endpoint = srv.URL
	c.GroupName = "/drover/test"
	c.StreamName = "{{ host }}"
	c.Batch = batch.Config{MaxEvents: MaxRequestEvents, MaxBytes: MaxRequestBytes, Timeout: 5 * time.Millisecond}
	c.Request = driver.RequestConfig{Concurrency: 1, Timeout: 5 * time.Second,
		RetryInitialBackoff: time.Millisecond, RetryMaxBackoff: 5 * time.Millisecond}
	c.Healthcheck.Enabled = false
	return c
}

// harness runs one sink against a fake service.
type harness struct {
	*sinktest.Runner
	t       *testing.T
	srv     *cwltest.Server
	sink    *Sink
	m       *metrics.Component
	logs    *syncBuffer
	batches int
}

// newHarness builds a sink for cfg (see testConfig) with its clock and the
// server's at now, and runs it.
func newHarness(t *testing.T, srv *cwltest.Server, cfg *Config, now time.Time) *harness {
	t.Helper()
	cwltest.SetCredentials(t)
	srv.SetNow(func() time.Time { return now })
	cctx := sinktest.Context(t, Type)
	h := &harness{t: t, srv: srv, m: cctx.Metrics, logs: &syncBuffer{}}
	cctx.Logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return now }
	h.sink = s
	h.Runner = sinktest.Start(t, s, srv.Close, func() {
		if t.Failed() {
			t.Logf("sink logs:\n%s", h.logs.String())
		}
	})
	return h
}

// send hands one batch to the sink.
func (h *harness) send(evs []event.Event) {
	h.batches++
	h.Send(evs...)
}

// finish closes the input and waits for the sink to deliver everything.
func (h *harness) finish() {
	h.t.Helper()
	h.Close()
	if v := h.srv.Violations(); len(v) > 0 {
		h.t.Errorf("the service refused requests: %v", v)
	}
}

// checkAcks verifies that every batch was acknowledged ok (delivered or
// refused for good).
func (h *harness) checkAcks() {
	h.t.Helper()
	for i := range h.batches {
		if !h.Ack() {
			h.t.Errorf("batch %d was not acknowledged ok", i)
		}
	}
}

func (h *harness) discarded(reason string) int {
	return int(testutil.ToFloat64(h.m.Discarded(reason)))
}

func (h *harness) sent() int { return int(testutil.ToFloat64(h.m.SentEvents)) }

func (h *harness) truncated() int { return int(testutil.ToFloat64(h.sink.truncated)) }

// meta is the metadata of events of one host.
func meta(host string) *event.Meta {
	return event.NewMeta("test", event.NewFields(
		event.Field{Key: "host", Value: event.StringValue(host)},
		event.Field{Key: "source_type", Value: event.StringValue("journald")},
	))
}

// events returns n events of host with messages prefix-NNNNN at ts plus
// i milliseconds.
func events(host, prefix string, n int, ts time.Time) []event.Event {
	m := meta(host)
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.Event{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), Message: []byte(fmt.Sprintf("%s-%05d", prefix, i)), Meta: m}
	}
	return out
}

// syncBuffer collects logs.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

func counter(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }

// httpPost sends an unsigned PutLogEvents request and returns the status.
func httpPost(url string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(`{}`))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Logs_20140328.PutLogEvents")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	return resp.StatusCode, nil
}
