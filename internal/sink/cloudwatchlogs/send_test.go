package cloudwatchlogs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/cloudwatchlogs/cwltest"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func TestDeliversToTemplatedStreamsCreatingThem(t *testing.T) {
	srv := cwltest.New(t)
	cfg := testConfig(srv)
	cfg.GroupName = "/nomad/{{ source_type }}"
	h := newHarness(t, srv, cfg, now)
	a := events("node-a", "a", 5, now.Add(-time.Minute))
	b := events("node-b", "b", 3, now.Add(-time.Minute))
	// Out of order within the batch: the sink sorts by time.
	mixed := []event.Event{a[3], b[0], a[0], a[1], b[2], b[1], a[4], a[2]}
	h.send(mixed)
	h.finish()
	h.checkAcks()
	if got := srv.Groups(); strings.Join(got, ",") != "/nomad/journald" {
		t.Fatalf("groups %v", got)
	}
	if got := srv.Streams("/nomad/journald"); strings.Join(got, ",") != "node-a,node-b" {
		t.Fatalf("streams %v", got)
	}
	for host, want := range map[string][]string{"node-a": {"a-00000", "a-00001", "a-00002", "a-00003", "a-00004"}, "node-b": {"b-00000", "b-00001", "b-00002"}} {
		stored := srv.Events("/nomad/journald", host)
		var msgs []string
		for i, e := range stored {
			var obj map[string]any
			if err := json.Unmarshal([]byte(e.Message), &obj); err != nil {
				t.Fatalf("message %q is not JSON: %v", e.Message, err)
			}
			msgs = append(msgs, obj["message"].(string))
			if obj["host"] != host || e.Timestamp != now.Add(-time.Minute).Add(time.Duration(i)*time.Millisecond).UnixMilli() {
				t.Errorf("event %v at %d", obj, e.Timestamp)
			}
		}
		if strings.Join(msgs, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", host, msgs, want)
		}
	}
	// node-a: the stream, then the group, then the stream again; node-b:
	// the stream.
	if h.sent() != 8 || srv.Calls("CreateLogGroup") != 1 || srv.Calls("CreateLogStream") != 3 {
		t.Errorf("sent %d, CreateLogGroup %d, CreateLogStream %d", h.sent(), srv.Calls("CreateLogGroup"), srv.Calls("CreateLogStream"))
	}
	if !strings.Contains(h.logs.String(), "created log stream") {
		t.Errorf("stream creation not logged")
	}
}

func TestRequestsStayWithinTheServiceLimits(t *testing.T) {
	srv := cwltest.New(t)
	cfg := testConfig(srv)
	cfg.Encoding = EncodingText
	h := newHarness(t, srv, cfg, now)
	// Many small events: at most 10,000 per request.
	h.send(events("node-1", "small", 10050, now.Add(-time.Hour)))
	// Large events: at most 1 MiB per request, counting 26 bytes each.
	m := meta("node-1")
	big := make([]event.Event, 12)
	for i := range big {
		big[i] = event.Event{Timestamp: now.Add(-time.Minute), Message: []byte(strings.Repeat(string(rune('a'+i%26)), 100<<10)), Meta: m}
	}
	h.send(big)
	h.finish()
	h.checkAcks()
	reqs := srv.PutRequests()
	total, mostEvents, largest := 0, 0, 0
	for _, r := range reqs {
		if r.Events > cwltest.MaxRequestEvents || r.Size > cwltest.MaxRequestBytes {
			t.Errorf("request of %d events, %d bytes", r.Events, r.Size)
		}
		total += r.Events
		mostEvents, largest = max(mostEvents, r.Events), max(largest, r.Size)
	}
	// The requests are filled up to the limits, not far below them.
	if mostEvents != cwltest.MaxRequestEvents || largest < cwltest.MaxRequestBytes-(110<<10) {
		t.Errorf("fullest requests: %d events, %d bytes", mostEvents, largest)
	}
	if total != 10062 || len(srv.Events("/drover/test", "node-1")) != 10062 {
		t.Fatalf("%d events in %d requests, %d stored", total, len(reqs), len(srv.Events("/drover/test", "node-1")))
	}
}

func TestSplitsCallsSpanningMoreThanADay(t *testing.T) {
	srv := cwltest.New(t)
	cfg := testConfig(srv)
	cfg.Encoding = EncodingText
	h := newHarness(t, srv, cfg, now)
	m := meta("node-1")
	var evs []event.Event
	for _, ago := range []time.Duration{2 * time.Hour, 60 * time.Hour, 30 * time.Hour, 59 * time.Hour, time.Hour, 29 * time.Hour} {
		evs = append(evs, event.Event{Timestamp: now.Add(-ago), Message: []byte(fmt.Sprintf("%dh ago", int(ago.Hours()))), Meta: m})
	}
	h.send(evs)
	h.finish()
	h.checkAcks()
	var got []string
	for _, e := range srv.Events("/drover/test", "node-1") {
		got = append(got, e.Message)
	}
	if want := "60h ago,59h ago,30h ago,29h ago,2h ago,1h ago"; strings.Join(got, ",") != want {
		t.Fatalf("stored %v, want %s", got, want)
	}
	if n := len(srv.PutRequests()); n != 3 {
		t.Errorf("%d calls, want 3 (one per day)", n)
	}
}

func TestEventsOutsideTheTimeWindowAreDiscarded(t *testing.T) {
	srv := cwltest.New(t)
	h := newHarness(t, srv, testConfig(srv), now)
	m := meta("node-1")
	h.send([]event.Event{
		{Timestamp: now.Add(-15 * 24 * time.Hour), Message: []byte("old"), Meta: m},
		{Timestamp: now.Add(-time.Minute), Message: []byte("ok"), Meta: m},
		{Timestamp: now.Add(3 * time.Hour), Message: []byte("future"), Meta: m},
	})
	h.finish()
	h.checkAcks()
	if h.discarded(ReasonTooOld) != 1 || h.discarded(ReasonTooNew) != 1 || h.sent() != 1 {
		t.Fatalf("too_old %d, too_new %d, sent %d", h.discarded(ReasonTooOld), h.discarded(ReasonTooNew), h.sent())
	}
	if got := srv.Events("/drover/test", "node-1"); len(got) != 1 {
		t.Fatalf("stored %v", got)
	}
	if !strings.Contains(h.logs.String(), "too_new: 1, too_old: 1") {
		t.Errorf("the discard was not logged with its reasons:\n%s", h.logs.String())
	}
}

func TestEventsTheServiceRejectsAreDiscarded(t *testing.T) {
	// The service's clock is a day ahead of drover's: what drover thinks
	// is 13.5 days old is too old for the service.
	srv := cwltest.New(t)
	h := newHarness(t, srv, testConfig(srv), now)
	srv.SetNow(func() time.Time { return now.Add(24 * time.Hour) })
	m := meta("node-1")
	h.send([]event.Event{
		{Timestamp: now.Add(-324 * time.Hour), Message: []byte("old for the service"), Meta: m},
		{Timestamp: now.Add(-time.Minute), Message: []byte("ok"), Meta: m},
	})
	h.finish()
	h.checkAcks()
	if h.discarded(ReasonTooOld) != 1 || h.sent() != 1 {
		t.Fatalf("too_old %d, sent %d", h.discarded(ReasonTooOld), h.sent())
	}
}

func TestLongMessagesAreTruncated(t *testing.T) {
	for _, enc := range []string{EncodingText, EncodingJSON} {
		t.Run(enc, func(t *testing.T) {
			srv := cwltest.New(t)
			srv.SetMaxEventSize(256 << 10)
			cfg := testConfig(srv)
			cfg.Encoding = enc
			h := newHarness(t, srv, cfg, now)
			m := meta("node-1")
			long := strings.Repeat("é\"x", 120<<10) // 480 KiB, escapes in JSON
			h.send([]event.Event{
				{Timestamp: now, Message: []byte(long), Meta: m},
				{Timestamp: now, Message: []byte("short"), Meta: m},
			})
			h.finish()
			h.checkAcks()
			stored := srv.Events("/drover/test", "node-1")
			if len(stored) != 2 || h.truncated() != 1 {
				t.Fatalf("stored %d events, truncated counted %d", len(stored), h.truncated())
			}
			msg := stored[0].Message
			if len(msg)+EventOverhead > 256<<10 || len(msg) < 255<<10 || !utf8.ValidString(msg) {
				t.Fatalf("truncated message of %d bytes (valid UTF-8: %v)", len(msg), utf8.ValidString(msg))
			}
			if enc == EncodingText {
				if !strings.HasSuffix(msg, truncMarker) {
					t.Errorf("no marker at the end: %q", msg[len(msg)-20:])
				}
				return
			}
			var obj map[string]any
			if err := json.Unmarshal([]byte(msg), &obj); err != nil {
				t.Fatalf("truncated JSON is invalid: %v", err)
			}
			if obj["truncated"] != true || !strings.HasPrefix(long, obj["message"].(string)) || obj["host"] != "node-1" {
				t.Errorf("truncated JSON: truncated=%v host=%v", obj["truncated"], obj["host"])
			}
		})
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	srv := cwltest.New(t)
	srv.FailNext("PutLogEvents", 2, cwltest.Throttling)
	srv.FailNext("CreateLogStream", 1, cwltest.Unavailable)
	h := newHarness(t, srv, testConfig(srv), now)
	h.send(events("node-1", "t", 10, now))
	h.finish()
	h.checkAcks()
	if n := len(srv.Events("/drover/test", "node-1")); n != 10 {
		t.Fatalf("stored %d events", n)
	}
	if r := int(counter(h.m.Retries)); r < 3 || h.discarded("rejected") != 0 {
		t.Errorf("retries %d, rejected %d", r, h.discarded("rejected"))
	}
	if !strings.Contains(h.logs.String(), "Service Quotas") {
		t.Errorf("throttling was not explained:\n%s", h.logs.String())
	}
}

func TestMissingResourcesWithoutCreation(t *testing.T) {
	cases := []struct {
		name          string
		group, stream bool // create missing
		haveGroup     bool
		want          string
	}{
		{"stream", true, false, true, "create_missing_stream is false"},
		{"group", false, true, false, "create_missing_group is false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := cwltest.New(t)
			if tc.haveGroup {
				srv.CreateGroup("/drover/test")
			}
			cfg := testConfig(srv)
			cfg.CreateMissingGroup, cfg.CreateMissingStream = tc.group, tc.stream
			h := newHarness(t, srv, cfg, now)
			h.send(events("node-1", "x", 4, now))
			// The events wait for the missing resource, which an operator
			// creates.
			sinktest.WaitFor(t, "failed attempts", func() bool { return counter(h.m.DeliveryFailures("not_found")) >= 2 })
			if !strings.Contains(h.logs.String(), tc.want) {
				t.Errorf("log does not say %q:\n%s", tc.want, h.logs.String())
			}
			if h.sent() != 0 || sinktest.SumDiscarded(t, h.m) != 0 {
				t.Fatalf("sent %d, discarded %v while the resource was missing", h.sent(), sinktest.SumDiscarded(t, h.m))
			}
			srv.CreateStream("/drover/test", "node-1")
			h.finish()
			h.checkAcks()
			if h.sent() != 4 || sinktest.SumDiscarded(t, h.m) != 0 {
				t.Fatalf("sent %d, discarded %v", h.sent(), sinktest.SumDiscarded(t, h.m))
			}
			if srv.Calls("CreateLogGroup") != 0 {
				t.Errorf("a group was created")
			}
		})
	}
}

func TestCallsToOneStreamAreSerialized(t *testing.T) {
	srv := cwltest.New(t)
	srv.SetDelay(20 * time.Millisecond)
	srv.CreateStream("/drover/test", "node-1")
	srv.CreateStream("/drover/test", "node-2")
	cfg := testConfig(srv)
	cfg.Request.Concurrency = 8
	cfg.Batch.MaxEvents = 10
	h := newHarness(t, srv, cfg, now)
	for i := range 8 {
		evs := events("node-1", fmt.Sprintf("one%d", i), 10, now)
		evs = append(evs, events("node-2", fmt.Sprintf("two%d", i), 10, now)...)
		h.send(evs)
	}
	h.finish() // fails on overlapping calls to one stream
	h.checkAcks()
	if a, b := len(srv.Events("/drover/test", "node-1")), len(srv.Events("/drover/test", "node-2")); a != 80 || b != 80 {
		t.Fatalf("stored %d and %d events", a, b)
	}
}

func TestUnroutableAndEmptyEventsAreRefused(t *testing.T) {
	srv := cwltest.New(t)
	cfg := testConfig(srv)
	cfg.StreamName = "{{ nomad.job_name }}"
	cfg.Encoding = EncodingText
	h := newHarness(t, srv, cfg, now)
	job := event.NewMeta("test", event.NewFields(event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
		event.Field{Key: "job_name", Value: event.StringValue("web:api*1")}))}))
	h.send([]event.Event{
		{Timestamp: now, Message: []byte("routed \xff"), Meta: job},
		{Timestamp: now, Message: []byte("no job"), Meta: meta("node-1")},
		{Timestamp: now, Message: nil, Meta: job},
	})
	h.finish()
	h.checkAcks()
	stored := srv.Events("/drover/test", "web_api_1")
	if len(stored) != 1 || stored[0].Message != "routed \uFFFD" {
		t.Fatalf("stored %v in %v", stored, srv.Streams("/drover/test"))
	}
	if h.discarded(ReasonMissingField) != 1 || h.discarded(ReasonEmptyMessage) != 1 {
		t.Errorf("missing field %d, empty %d", h.discarded(ReasonMissingField), h.discarded(ReasonEmptyMessage))
	}
	if !strings.Contains(h.logs.String(), "field stream_name: nomad.job_name is missing") {
		t.Errorf("the missing field was not named:\n%s", h.logs.String())
	}
}

func TestHealthcheck(t *testing.T) {
	srv := cwltest.New(t)
	cwltest.SetCredentials(t)
	build := func(cfg *Config) (*Sink, error) {
		return New(component.Context{Kind: component.KindSink, Type: Type, ID: "hc"}, cfg)
	}
	cfg := testConfig(srv)
	cfg.Healthcheck.Enabled = true
	s, err := build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Healthcheck(ctx); err != nil {
		t.Fatalf("healthcheck: %v", err)
	}
	cfg.CreateMissingGroup = false
	cfg.Healthcheck.Required = true
	if _, err := build(cfg); err == nil || !strings.Contains(err.Error(), `log group "/drover/test" does not exist`) {
		t.Fatalf("required healthcheck of a missing group: %v", err)
	}
	srv.CreateGroup("/drover/test")
	if _, err := build(cfg); err != nil {
		t.Fatalf("required healthcheck of an existing group: %v", err)
	}
	srv.Fail("DescribeLogGroups", &cwltest.AccessDenied)
	if _, err := build(cfg); err == nil || !strings.Contains(err.Error(), "check the AWS credentials") {
		t.Fatalf("healthcheck with refused credentials: %v", err)
	}
	s.transport.closeIdle()
}

func TestNoRegion(t *testing.T) {
	srv := cwltest.New(t)
	cwltest.SetCredentials(t)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	_, err := New(component.Context{ID: "x"}, testConfig(srv))
	if err == nil || !strings.Contains(err.Error(), "no AWS region") {
		t.Fatalf("err = %v", err)
	}
}

func TestRequestsAreSignedAndCarryNoSequenceToken(t *testing.T) {
	// finish() fails on unsigned requests and sequence tokens; this test
	// makes sure the server would notice an unsigned one.
	srv := cwltest.New(t)
	resp, err := httpPost(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp != 400 || len(srv.Violations()) != 1 {
		t.Fatalf("unsigned request answered %d, violations %v", resp, srv.Violations())
	}
}

func TestStreamNotVisibleRightAfterCreationIsRetried(t *testing.T) {
	srv := cwltest.New(t)
	notFound := cwltest.Failure{Status: 400, Code: "ResourceNotFoundException", Message: "The specified log stream does not exist."}
	// The first call finds no stream; the call right after creating it
	// does not see it yet either.
	srv.FailNext("PutLogEvents", 2, notFound)
	h := newHarness(t, srv, testConfig(srv), now)
	h.send(events("node-1", "c", 5, now))
	h.finish()
	h.checkAcks()
	if n := len(srv.Events("/drover/test", "node-1")); n != 5 || h.discarded("rejected") != 0 {
		t.Fatalf("stored %d, rejected %d", n, h.discarded("rejected"))
	}
	if !strings.Contains(h.logs.String(), "just created") {
		t.Errorf("the retry was not explained:\n%s", h.logs.String())
	}
}
