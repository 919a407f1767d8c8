package cloudwatchlogs

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/batch"
)

// benchEvent is a journald entry of a Nomad client as the source emits it.
func benchEvent(ts time.Time) event.Event {
	m := event.NewMeta("host", event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue("journald")},
		event.Field{Key: "host", Value: event.StringValue("client-07")},
	))
	j := event.NewFields(
		event.Field{Key: "_systemd_unit", Value: event.StringValue("nomad.service")},
		event.Field{Key: "priority", Value: event.StringValue("6")},
		event.Field{Key: "syslog_identifier", Value: event.StringValue("nomad")},
		event.Field{Key: "_pid", Value: event.StringValue("1234")},
		event.Field{Key: "_transport", Value: event.StringValue("stdout")},
	)
	return event.Event{Timestamp: ts, Meta: m,
		Message: []byte(`    2026-11-21T12:00:00.123Z [INFO]  client.alloc_runner.task_runner: Task event: alloc_id=5f0c3a2e task=web type=Started msg="Task started by client" failed=false`),
		Fields:  event.NewFields(event.Field{Key: "journald", Value: event.ObjectValue(j)})}
}

// BenchmarkEncodeEvent encodes one event into a request body as the
// driver's batch builder does (JSON encoding); allocs/op is per event.
func BenchmarkEncodeEvent(b *testing.B) {
	x := encoder{encoding: codec.JSON, maxMessage: int(DefaultMaxEventBytes) - EventOverhead, now: time.Now}
	e := benchEvent(time.Now())
	buf := make([]byte, 0, 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		buf = x.AppendEvent(buf[:0], &e, 0)
	}
	b.SetBytes(int64(len(buf)))
}

// okDoer answers every request with 200 and an empty JSON object.
type okDoer struct{}

func (okDoer) Do(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

// BenchmarkSendRequest sends a request of 1000 events: routing, planning,
// building the PutLogEvents input, the SDK's serialization and SigV4
// signing, without a network. ns/event and allocs/event are reported.
func BenchmarkSendRequest(b *testing.B) {
	const n = 1000
	cfg := NewConfig()
	cfg.GroupName, cfg.StreamName = "/nomad/hosts", "{{ host }}"
	now := time.Now()
	s := &Sink{
		cfg: cfg,
		client: cloudwatchlogs.New(cloudwatchlogs.Options{
			Region:      "eu-west-1",
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
			HTTPClient:  okDoer{},
			Retryer:     aws.NopRetryer{},
		}),
		router:    newRouter(cfg),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{Name: "t"}),
		now:       func() time.Time { return now },
	}
	s.enc = encoder{encoding: codec.JSON, maxMessage: int(cfg.MaxEventBytes) - EventOverhead, now: s.now}
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = benchEvent(now.Add(time.Duration(i) * time.Millisecond))
	}
	bld := batch.NewBuilder(cfg.Batch, s.enc)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sb := &event.Batch{Events: evs, Ack: event.NewAck(nil)}
		if taken := bld.Add(batch.Track(sb), evs); taken != n {
			b.Fatalf("the request took %d events", taken)
		}
		req := bld.Take()
		if err := s.Send(ctx, req); err != nil {
			b.Fatal(err)
		}
		req.Finish(event.Delivered)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}
