package kafka

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
)

func nomadMeta(job, alloc string) *event.Meta {
	return event.NewMeta("logs", event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue("nomad_logs")},
		event.Field{Key: "host", Value: event.StringValue("node-1")},
		event.Field{Key: "stream", Value: event.StringValue("stdout")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "namespace", Value: event.StringValue("default")},
			event.Field{Key: "job_name", Value: event.StringValue(job)},
			event.Field{Key: "alloc_id", Value: event.StringValue(alloc)},
			event.Field{Key: "alloc_index", Value: event.IntValue(3)},
			event.Field{Key: "meta", Value: event.ObjectValue(event.NewFields(
				event.Field{Key: "team", Value: event.StringValue(`pay "ments"`)},
			))},
		))},
	))
}

// sampleEvents are events as drover's sources and transforms make them.
func sampleEvents() []event.Event {
	ts := time.Date(2026, 11, 21, 12, 0, 0, 123456789, time.UTC)
	web, api := nomadMeta("web", "a1"), nomadMeta("api", "b2")
	file := event.NewMeta("files", event.NewFields(
		event.Field{Key: "file", Value: event.StringValue("/var/log/app.log")},
		event.Field{Key: "host", Value: event.StringValue("node-2")},
		event.Field{Key: "source_type", Value: event.StringValue("file")},
	))
	return []event.Event{
		{Timestamp: ts, Message: []byte("GET /health 200"), Meta: web},
		{Timestamp: ts.Add(time.Second), Message: []byte("tab\there \"quoted\" \\ café 東京 \x01"), Meta: web},
		{Timestamp: ts, Message: []byte("cut"), Meta: api, Flags: event.Truncated | event.Partial},
		{Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Message: []byte(""), Meta: file},
		{Timestamp: ts, Message: []byte(`{"level":"warn"}`), Meta: file, Fields: event.NewFields(
			event.Field{Key: "level", Value: event.StringValue("warn")},
			event.Field{Key: "status", Value: event.IntValue(-503)},
			event.Field{Key: "ratio", Value: event.FloatValue(0.25)},
			event.Field{Key: "ok", Value: event.BoolValue(false)},
			event.Field{Key: "tags", Value: event.RawJSONValue([]byte(`["a",1]`))},
			event.Field{Key: "none", Value: event.Value{}},
			event.Field{Key: "http", Value: event.ObjectValue(event.NewFields(event.Field{Key: "path", Value: event.StringValue("/x\ny")}))},
			event.Field{Key: "host", Value: event.StringValue("overridden")},
		)},
	}
}

// TestDecodeDroverRoundTrip: an event encoded as the kafka sink encodes it
// and decoded with decoding = "drover" encodes to the same bytes again,
// and the events of one stream share their metadata.
func TestDecodeDroverRoundTrip(t *testing.T) {
	d := newDecoder(DecodingDrover, "agg", plainMeta("agg", "aggregator-1"))
	recTime := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var metas []*event.Meta
	for i, e := range sampleEvents() {
		in := codec.AppendJSON(nil, &e)
		var got event.Event
		if err := d.decode(&got, in, recTime); err != nil {
			t.Fatalf("event %d %s: %v", i, in, err)
		}
		if out := codec.AppendJSON(nil, &got); !bytes.Equal(out, in) {
			t.Errorf("event %d:\n in %s\nout %s", i, in, out)
		}
		if !got.Timestamp.Equal(e.Timestamp) || got.Flags != e.Flags || string(got.Message) != string(e.Message) {
			t.Errorf("event %d: %+v, want %+v", i, got, e)
		}
		metas = append(metas, got.Meta)
	}
	if metas[0] != metas[1] || metas[0] == metas[2] {
		t.Error("events of one stream must share one Meta, others not")
	}
	if v, ok := metas[0].Fields.Get("nomad.meta.team"); !ok || v.Str() != `pay "ments"` {
		t.Errorf("nomad.meta.team = %v, %v", v, ok)
	}
	if metas[0].Source != "agg" {
		t.Errorf("Meta.Source %q", metas[0].Source)
	}
}

func TestDecodeJSONAndText(t *testing.T) {
	recTime := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	plain := plainMeta("agg", "aggregator-1")
	kafka := event.Field{Key: "kafka", Value: event.ObjectValue(event.NewFields(event.Field{Key: "offset", Value: event.IntValue(7)}))}
	cases := []struct {
		mode, in, want string
		err            bool
	}{
		{DecodingJSON, `{"message":"hi","level":"info","n":1.50}`,
			`{"timestamp":"2030-01-01T00:00:00Z","message":"hi","level":"info","n":1.50,"kafka":{"offset":7},"source_type":"kafka","host":"aggregator-1"}`, false},
		{DecodingJSON, ` {"timestamp":"2026-02-03T04:05:06.5+01:00","source_type":"vector"} `,
			`{"timestamp":"2026-02-03T03:05:06.5Z","message":"","source_type":"vector","kafka":{"offset":7},"host":"aggregator-1"}`, false},
		{DecodingJSON, "not json\n",
			`{"timestamp":"2030-01-01T00:00:00Z","message":"not json","kafka":{"offset":7},"source_type":"kafka","host":"aggregator-1"}`, true},
		{DecodingDrover, `[1,2]`,
			`{"timestamp":"2030-01-01T00:00:00Z","message":"[1,2]","kafka":{"offset":7},"source_type":"kafka","host":"aggregator-1"}`, true},
		{DecodingDrover, `{"message":"x"} trailing`,
			`{"timestamp":"2030-01-01T00:00:00Z","message":"{\"message\":\"x\"} trailing","kafka":{"offset":7},"source_type":"kafka","host":"aggregator-1"}`, true},
		{DecodingText, "{\"message\":\"x\"}\r\n",
			`{"timestamp":"2030-01-01T00:00:00Z","message":"{\"message\":\"x\"}","kafka":{"offset":7},"source_type":"kafka","host":"aggregator-1"}`, false},
	}
	for _, c := range cases {
		d := newDecoder(c.mode, "agg", plain)
		var e event.Event
		err := d.decode(&e, []byte(c.in), recTime, kafka)
		if (err != nil) != c.err {
			t.Errorf("%s %q: error %v, want error %v", c.mode, c.in, err, c.err)
		}
		if out := string(codec.AppendJSON(nil, &e)); out != c.want {
			t.Errorf("%s %q:\n got %s\nwant %s", c.mode, c.in, out, c.want)
		}
	}
}

// FuzzDecodeRecord: any record value decodes without panicking into an
// event that encodes as valid JSON; decoding that encoding again gives the
// same encoding (the decoder loses nothing it keeps).
func FuzzDecodeRecord(f *testing.F) {
	for _, e := range sampleEvents() {
		f.Add(codec.AppendJSON(nil, &e), uint8(0))
	}
	f.Add([]byte(`{"message":"\ud83d\ude00\u0000","x":{"y":[1,{"z":null}]},"truncated":false,"host":"h"}`), uint8(1))
	f.Add([]byte("plain line\n"), uint8(2))
	f.Add([]byte(`{"timestamp":"2026-02-30T00:00:00Z","message":1}`), uint8(0))
	modes := []string{DecodingDrover, DecodingJSON, DecodingText}
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		d := newDecoder(modes[int(mode)%3], "agg", plainMeta("agg", "h"))
		recTime := time.Unix(1700000000, 0).UTC()
		var e event.Event
		_ = d.decode(&e, in, recTime)
		if e.Meta == nil {
			t.Fatal("event without Meta")
		}
		out := codec.AppendJSON(nil, &e)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %q", out, in)
		}
		if modes[int(mode)%3] == DecodingText {
			return
		}
		redo := func(in []byte) []byte {
			var again event.Event
			if err := newDecoder(DecodingDrover, "agg", plainMeta("agg", "h")).decode(&again, in, recTime); err != nil {
				t.Fatalf("decoding our own encoding %q: %v", in, err)
			}
			return codec.AppendJSON(nil, &again)
		}
		// The first pass may change how a replacement character is
		// written (invalid UTF-8 is encoded as \ufffd, the character as
		// itself), not what the JSON means; after it, nothing changes.
		out2 := redo(out)
		var a, b any
		if json.Unmarshal(out, &a) != nil || json.Unmarshal(out2, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("decoding changed the event:\n%s\n%s", out, out2)
		}
		if out3 := redo(out2); !bytes.Equal(out2, out3) {
			t.Fatalf("not stable:\n%s\n%s", out2, out3)
		}
	})
}

func BenchmarkDecodeDrover(b *testing.B) {
	e := sampleEvents()[0]
	in := codec.AppendJSON(nil, &e)
	d := newDecoder(DecodingDrover, "agg", plainMeta("agg", "h"))
	var out event.Event
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.decode(&out, in, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}
