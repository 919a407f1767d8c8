package recv

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"

	"github.com/drover-dev/drover/bench/gen"
	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform/parse"
	"github.com/drover-dev/drover/internal/transform/transformtest"
)

func metaFor(alloc string) *event.Meta {
	return event.NewMeta("tasks", event.NewFields(
		event.Field{Key: "stream", Value: event.StringValue("stdout")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "alloc_id", Value: event.StringValue(alloc)},
		))},
	))
}

func ev(sid int, seq uint64, ts int64, meta *event.Meta) *event.Event {
	return &event.Event{Timestamp: time.Unix(0, ts), Message: gen.AppendLine(nil, sid, seq, ts), Meta: meta}
}

// ndjson is the http sink's body of the events.
func ndjson(evs ...*event.Event) []byte {
	var body []byte
	for _, e := range evs {
		body = codec.Lines{Encoding: codec.JSON}.AppendEvent(body, e, 0)
	}
	return body
}

func post(t *testing.T, url, contentType string, body []byte) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %d", url, resp.StatusCode)
	}
}

func TestReceiverCountsAndChecksSinkBodies(t *testing.T) {
	r := New(Options{Streams: 2, AllocIDs: []string{"a0", "a0"}, CheckEvery: 1})
	srv, err := Start("127.0.0.1:0", r)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r.RecordLatency(true)
	good, other := metaFor("a0"), metaFor("zz")
	ts := time.Now().Add(-50 * time.Millisecond).UnixNano()
	tampered := ev(1, 2, ts, good)
	tampered.Message = append(tampered.Message[:len(tampered.Message)-3], "xyz"...)
	body := ndjson(
		ev(0, 0, ts, good), ev(0, 2, ts, good), ev(0, 1, ts, good), // 1 arrives late
		ev(1, 0, ts, good), ev(1, 0, ts, good), // duplicate
		ev(1, 1, ts, other), // wrong allocation
		tampered,
	)
	body = append(body, `{"message":"no header here"}`+"\n"...)
	post(t, srv.URL()+"/ingest", "application/x-ndjson", body)
	// The same lines again as a JSON array: all duplicates.
	arr := codec.Array{}.AppendEvent(nil, ev(0, 0, ts, good), 0)
	arr = codec.Array{}.AppendEnd(arr, 1)
	post(t, srv.URL()+"/ingest", "application/json", arr)

	st := r.Stats()
	if st.Lines != 6 || st.PerStream[0] != 3 || st.PerStream[1] != 3 {
		t.Errorf("lines %d %v, want 6 [3 3]", st.Lines, st.PerStream)
	}
	if st.Duplicates != 2 || st.OutOfOrder != 1 || st.WrongMeta != 1 || st.Invalid != 1 || st.Mismatched != 1 || st.Checked != 6 {
		t.Errorf("stats %+v", st)
	}
	if st.Requests != 2 || st.FirstProblem == "" {
		t.Errorf("requests %d, first problem %q", st.Requests, st.FirstProblem)
	}
	q, n := r.Latencies(0.5, 0.99)
	if n != 6 || q[0] < 50*time.Millisecond || q[1] > 10*time.Second {
		t.Errorf("latencies %v of %d", q, n)
	}
}

func TestReceiverDecodesLokiPushes(t *testing.T) {
	r := New(Options{Streams: 1, AllocIDs: []string{"a0"}, CheckEvery: 1})
	srv, err := Start("127.0.0.1:0", r)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := time.Now().UnixNano()
	req := push.PushRequest{Streams: []push.Stream{{Labels: `{job="svc"}`}}}
	for seq := range uint64(3) {
		line := codec.AppendJSON(nil, ev(0, seq, ts, metaFor("a0")))
		req.Streams[0].Entries = append(req.Streams[0].Entries, push.Entry{Timestamp: time.Unix(0, ts), Line: string(line)})
	}
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	post(t, srv.URL()+LokiPath, "application/x-protobuf", snappy.Encode(nil, raw))
	js := `{"streams":[{"stream":{"job":"svc"},"values":[["1","` +
		strings.ReplaceAll(strings.ReplaceAll(string(codec.AppendJSON(nil, ev(0, 3, ts, metaFor("a0")))), `\`, `\\`), `"`, `\"`) + `"]]}]}`
	post(t, srv.URL()+LokiPath, "application/json", []byte(js))
	st := r.Stats()
	if st.Lines != 4 || st.Mismatched != 0 || st.WrongMeta != 0 || st.Invalid != 0 {
		t.Errorf("stats %+v", st)
	}
}

// parsedEvents runs the lines through the parse transform as the
// transform scenarios configure it: JSON fields at the top level, the
// line's msg the message, its ts the event's time.
func parsedEvents(t *testing.T, meta *event.Meta, evs ...*event.Event) []event.Event {
	t.Helper()
	c := parse.NewConfig()
	c.Format, c.DropOriginal, c.MessageField = "json", true, "msg"
	c.TimestampField, c.TimestampFormat = "ts", "unix_ns"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, _ := transformtest.Context(parse.Type)
	in := make([]event.Event, 0, len(evs))
	for _, e := range evs {
		e.Meta = meta
		in = append(in, *e)
	}
	out := &transformtest.Collector{}
	if _, err := transformtest.Process(parse.New(ctx, c), out, in...); err != nil {
		t.Fatal(err)
	}
	return out.Events()
}

func TestReceiverIdentifiesParsedLines(t *testing.T) {
	r := New(Options{Streams: 2, AllocIDs: []string{"a0", "a1"}, CheckEvery: 1, ParsedMessageField: "msg"})
	srv, err := Start("127.0.0.1:0", r)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := time.Now().UnixNano()
	good := metaFor("a0")
	// Stream 0 writes JSON: its lines arrive parsed. Stream 1 writes
	// logfmt, which the JSON parser leaves as it is.
	evs := parsedEvents(t, good, ev(0, 0, ts, nil), ev(0, 2, ts, nil), ev(0, 1, ts, nil), ev(0, 2, ts, nil))
	evs = append(evs, parsedEvents(t, metaFor("a1"), ev(1, 0, ts, nil))...)
	tampered := parsedEvents(t, good, ev(0, 3, ts, nil))[0]
	tampered.Fields = tampered.Fields.With(event.Field{Key: "level", Value: event.StringValue("nope")})
	wrongMsg := parsedEvents(t, good, ev(0, 4, ts, nil))[0]
	wrongMsg.Message = []byte("not the msg")
	evs = append(evs, tampered, wrongMsg)
	for i, e := range evs[:4] {
		if !bytes.Contains(codec.AppendJSON(nil, &e), []byte(`,"sid":0,`)) || bytes.Contains(e.Message, []byte(`"sid"`)) {
			t.Fatalf("event %d is not parsed: %s", i, codec.AppendJSON(nil, &e))
		}
	}
	var ptrs []*event.Event
	for i := range evs {
		ptrs = append(ptrs, &evs[i])
	}
	post(t, srv.URL()+"/ingest", "application/x-ndjson", ndjson(ptrs...))

	st := r.Stats()
	if st.Lines != 6 || st.PerStream[0] != 5 || st.PerStream[1] != 1 {
		t.Errorf("lines %d %v, want 6 [5 1]", st.Lines, st.PerStream)
	}
	if st.Duplicates != 1 || st.OutOfOrder != 1 || st.Invalid != 0 || st.WrongMeta != 0 || st.Checked != 6 || st.Mismatched != 2 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(st.FirstProblem, `"level"`) {
		t.Errorf("first problem %q, want the tampered level", st.FirstProblem)
	}
}

func TestParsedHeader(t *testing.T) {
	for _, c := range []struct {
		obj          string
		ts, sid, seq uint64
		ok           bool
	}{
		{`{"message":"x","ts":12,"sid":3,"seq":45}`, 12, 3, 45, true},
		{`{"message":"x","seq":45,"level":"info","sid":3,"ts":12}`, 12, 3, 45, true},
		{`{"message":"a \",\"sid\":9","ts":12,"seq":45}`, 0, 0, 0, false},
		{`{"message":"x","ts":12,"sid":"3","seq":45}`, 0, 0, 0, false},
	} {
		ts, sid, seq, ok := parsedHeader([]byte(c.obj))
		if ok != c.ok || ok && (uint64(ts) != c.ts || uint64(sid) != c.sid || seq != c.seq) {
			t.Errorf("%s: %d %d %d %t", c.obj, ts, sid, seq, ok)
		}
	}
}
