package nomadevents

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/nomadtest/eventstream"
)

// allCaptureLines returns every data line of the stream captures.
func allCaptureLines(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, name := range []string{
		eventstream.CaptureSession, eventstream.CaptureAfterRestart, eventstream.CaptureSession2,
		eventstream.CaptureDevRestart, eventstream.CaptureSample,
	} {
		for _, it := range eventstream.MustLoad(name) {
			out = append(out, eventstream.Line(it.Index, it.Events))
		}
	}
	return out
}

func TestDecodeHeartbeat(t *testing.T) {
	var f frame
	for _, line := range []string{"{}", " { } ", `{"Events":null}`, `{"Events":[],"Index":0}`} {
		if err := decodeFrame([]byte(line), &f); err != nil || !f.heartbeat() {
			t.Errorf("%q: err %v heartbeat %v", line, err, f.heartbeat())
		}
	}
}

// Every event of the real captures decodes to what encoding/json sees in it.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	var f frame
	events := 0
	for _, line := range allCaptureLines(t) {
		if err := decodeFrame(line, &f); err != nil {
			t.Fatalf("decoding %.120s: %v", line, err)
		}
		var ref struct {
			Index  uint64
			Events []json.RawMessage
		}
		if err := json.Unmarshal(line, &ref); err != nil {
			t.Fatal(err)
		}
		if f.index != ref.Index || len(f.events) != len(ref.Events) {
			t.Fatalf("frame %d with %d events, want %d with %d", f.index, len(f.events), ref.Index, len(ref.Events))
		}
		for i := range f.events {
			checkEvent(t, &f.events[i], ref.Events[i])
			events++
		}
	}
	if events < 200 {
		t.Fatalf("only %d events checked", events)
	}
}

func checkEvent(t *testing.T, got *rawEvent, raw json.RawMessage) {
	t.Helper()
	var ref struct {
		Topic, Type, Key, Namespace string
		Index                       uint64
		Payload                     map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.raw, raw) {
		t.Fatalf("raw event differs:\n got %.120s\nwant %.120s", got.raw, raw)
	}
	if string(got.topic) != ref.Topic || string(got.typ) != ref.Type || string(got.key) != ref.Key ||
		string(got.namespace) != ref.Namespace || got.index != ref.Index {
		t.Fatalf("event %s/%s/%s/%s/%d, want %+v", got.topic, got.typ, got.key, got.namespace, got.index, ref)
	}
	obj := ref.Payload[ref.Topic]
	table := summaryTable([]byte(ref.Topic))
	if obj == nil || table == nil {
		if got.nSummary != 0 {
			t.Fatalf("summary for %s: %v", ref.Topic, got.summaryFields())
		}
		return
	}
	want := 0
	for _, sk := range table {
		v, ok := obj[sk.json]
		if !ok || string(v) == "null" {
			continue
		}
		if sk.kind == summaryTime {
			var ns int64
			if err := json.Unmarshal(v, &ns); err != nil {
				t.Fatal(err)
			}
			if ns > 0 && (!got.hasTime || got.time != ns) {
				t.Fatalf("%s time %d (%v), want %d", ref.Topic, got.time, got.hasTime, ns)
			}
			continue
		}
		want++
		var wantValue any
		if err := json.Unmarshal(v, &wantValue); err != nil {
			t.Fatal(err)
		}
		fv, ok := event.NewFields(got.summaryFields()...).Lookup(sk.field)
		if !ok {
			t.Fatalf("%s: no field %s (want %v)", ref.Topic, sk.field, wantValue)
		}
		var gotValue any
		if err := json.Unmarshal(fv.AppendJSON(nil), &gotValue); err != nil {
			t.Fatal(err)
		}
		if gotValue != wantValue {
			t.Fatalf("%s.%s = %v, want %v", ref.Topic, sk.field, gotValue, wantValue)
		}
	}
	if got.nSummary != want {
		t.Fatalf("%s: %d summary fields, want %d: %v", ref.Topic, got.nSummary, want, got.summaryFields())
	}
}

func TestDecodeEscapesAndOddShapes(t *testing.T) {
	line := `{"Index":7,"Extra":{"a":[1,2.5e3,-0.1,true,false,null]},"Events":[` +
		`{"Topic":"Allocation","Type":"T\u0041","Key":"k\"\\\/\n","Namespace":null,"Index":7,` +
		`"Payload":{"Other":[1],"Allocation":{"JobID":"j\u00e9","ClientStatus":null,"Name":5,"ModifyTime":-3,"Job":{"ID":"nested"}}}}]}`
	var f frame
	if err := decodeFrame([]byte(line), &f); err != nil {
		t.Fatal(err)
	}
	ev := &f.events[0]
	if string(ev.typ) != "TA" || string(ev.key) != "k\"\\/\n" || ev.namespace != nil {
		t.Fatalf("type %q key %q namespace %q", ev.typ, ev.key, ev.namespace)
	}
	fs := event.NewFields(ev.summaryFields()...)
	if v, _ := fs.Lookup("job_id"); v.Str() != "jé" || fs.Len() != 1 || ev.hasTime {
		t.Fatalf("summary %s, time %v", fs.AppendJSON(nil), ev.hasTime)
	}
	// An event without its own Index takes the frame's.
	if err := decodeFrame([]byte(`{"Events":[{"Topic":"Job"}],"Index":9}`), &f); err != nil || f.events[0].index != 9 {
		t.Fatalf("err %v index %d", err, f.events[0].index)
	}
}

func TestDecodeRejects(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	for _, tc := range []struct {
		line   string
		syntax bool // a *SyntaxError (invalid JSON), else a shape error
	}{
		{``, true},
		{`{`, true},
		{`event dropped from buffer`, true},
		{`{"Events":[{"Topic":"Job","Index":1}],"Index":1`, true},
		{`{"Events":[{"Topic":"Job","Index":1}],"Index":1}x`, true},
		{"{}\x00", true},
		{`{"Events":[{"Topic":"Jo`, true},
		{`{"Events":[{"Topic":"J\x01"}],"Index":1}`, true},
		{`{"Events":[{"Topic":"J\q"}],"Index":1}`, true},
		{`{"Events":[{"Topic":"J\u12"}],"Index":1}`, true},
		{`{"Events":[{"Index":01}],"Index":1}`, true},
		{`{"Events":[{"Index":1.}],"Index":1}`, true},
		{`{"Events":[{"Payload":{"Node":{"Drain":tru}}}],"Index":1}`, true},
		{`{"Events":[{"Payload":{"Job":{"Version":1e}}}],"Index":1}`, true},
		{`{"Events":[{,}],"Index":1}`, true},
		{`{"Events":[{}],"Index":1,}`, true},
		{`{"Extra":` + deep + `}`, false},
		{`[]`, false},
		{`{"Events":[{"Topic":"Job"}]}`, false},
		{`{"Events":[1],"Index":1}`, false},
		{`{"Events":{},"Index":1}`, false},
		{`{"Events":[],"Index":-1}`, false},
		{`{"Events":[],"Index":1.5}`, false},
		{`{"Events":[],"Index":18446744073709551616}`, false},
		{`{"Events":[{"Index":"7"}],"Index":7}`, false},
		{`{"Events":[{"Topic":5}],"Index":7}`, false},
	} {
		var f frame
		err := decodeFrame([]byte(tc.line), &f)
		if err == nil {
			t.Errorf("%q: accepted", tc.line)
			continue
		}
		var se *SyntaxError
		if errors.As(err, &se) != tc.syntax {
			t.Errorf("%q: %v (syntax error %v, want %v)", tc.line, err, !tc.syntax, tc.syntax)
		}
		if json.Valid([]byte(tc.line)) == tc.syntax && !errors.Is(err, errDepth) {
			t.Errorf("%q: json.Valid disagrees with the test case", tc.line)
		}
	}
}

func TestBuildEvent(t *testing.T) {
	items := eventstream.MustLoad(eventstream.CaptureSession)
	meta := newMeta("cluster", "host1")
	received := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var f frame
	var sawAlloc, sawNode, sawJob bool
	for _, it := range items {
		line := eventstream.Line(it.Index, it.Events)
		if err := decodeFrame(line, &f); err != nil {
			t.Fatal(err)
		}
		for i := range f.events {
			var e event.Event
			buildEvent(&e, &f.events[i], meta, received, false)
			rec := map[string]any{}
			if err := json.Unmarshal(codec.AppendJSON(nil, &e), &rec); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(e.Message, it.Events[i].Raw) {
				t.Fatal("message is not the event JSON")
			}
			if rec["source_type"] != "nomad_events" || rec["host"] != "host1" || rec["topic"] != it.Events[i].Topic ||
				rec["index"] != float64(it.Index) || rec["key"] != it.Events[i].Key {
				t.Fatalf("record %v", rec)
			}
			switch it.Events[i].Topic {
			case "Allocation":
				sawAlloc = true
				if rec["job_id"] == nil || rec["alloc_name"] == nil || rec["client_status"] == nil || rec["node_name"] != "anchor-node" {
					t.Fatalf("allocation record %v", rec)
				}
				if e.Timestamp.Equal(received) || e.Timestamp.Year() != 2026 {
					t.Fatalf("allocation timestamp %v, want its ModifyTime", e.Timestamp)
				}
			case "Node":
				sawNode = true
				if rec["node_name"] != "anchor-node" || rec["drain"] != false || rec["scheduling_eligibility"] != "eligible" {
					t.Fatalf("node record %v", rec)
				}
				if !e.Timestamp.Equal(received) {
					t.Fatalf("node timestamp %v, want the receive time", e.Timestamp)
				}
			case "Job":
				sawJob = true
				if rec["job_id"] != it.Events[i].Key || rec["job_type"] == nil || rec["version"] == nil || rec["status"] == nil {
					t.Fatalf("job record %v", rec)
				}
			}
			if _, ok := rec["synthetic"]; ok {
				t.Fatal("stream event marked synthetic")
			}
		}
	}
	if !sawAlloc || !sawNode || !sawJob {
		t.Fatal("captures lack a topic")
	}
}
