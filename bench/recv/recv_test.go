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
	var body []byte
	enc := codec.Lines{Encoding: codec.JSON}
	for _, e := range []*event.Event{
		ev(0, 0, ts, good), ev(0, 2, ts, good), ev(0, 1, ts, good), // 1 arrives late
		ev(1, 0, ts, good), ev(1, 0, ts, good), // duplicate
		ev(1, 1, ts, other), // wrong allocation
	} {
		body = enc.AppendEvent(body, e, 0)
	}
	tampered := ev(1, 2, ts, good)
	tampered.Message = append(tampered.Message[:len(tampered.Message)-3], "xyz"...)
	body = enc.AppendEvent(body, tampered, 0)
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
