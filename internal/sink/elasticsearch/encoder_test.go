package elasticsearch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
)

func testEvents() []event.Event {
	meta := nomadMeta("prod", "web")
	withAt := event.NewMeta("m", event.NewFields(
		event.Field{Key: "@timestamp", Value: event.StringValue("meta's own")},
		event.Field{Key: "host", Value: event.StringValue("node-1")},
	))
	ts := time.Date(2026, 11, 21, 12, 0, 0, 123456789, time.UTC)
	return []event.Event{
		{Timestamp: ts, Message: []byte("plain \"quoted\" \xff\x00"), Meta: meta},
		{Timestamp: ts, Message: []byte("own fields"), Meta: meta, Flags: event.Truncated | event.Partial,
			Fields: event.NewFields(
				event.Field{Key: "@timestamp", Value: event.StringValue("2020-01-01")},
				event.Field{Key: "timestamp", Value: event.IntValue(5)},
				event.Field{Key: "host", Value: event.StringValue("override")},
				event.Field{Key: "truncated", Value: event.BoolValue(false)},
			)},
		{Timestamp: ts, Message: []byte("meta with @timestamp"), Meta: withAt},
	}
}

func TestDocMatchesCodecWithItsTimestampKey(t *testing.T) {
	for _, e := range testEvents() {
		got := appendDoc(nil, &e, "timestamp")
		want := codec.AppendJSON(nil, &e)
		if !bytes.Equal(got, want) {
			t.Errorf("appendDoc with key timestamp:\n%s\nwant codec's\n%s", got, want)
		}
	}
}

func TestDocHasEveryKeyOnce(t *testing.T) {
	for _, e := range testEvents() {
		doc := appendDoc(nil, &e, "@timestamp")
		if err := uniqueKeys(doc); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if m["@timestamp"] != "2026-11-21T12:00:00.123456789Z" || m["message"] != strings.ToValidUTF8(string(e.Message), "\uFFFD") {
			t.Fatalf("doc %s", doc)
		}
		if e.Fields != nil && (m["timestamp"] != 5.0 || m["host"] != "override" || m["truncated"] != true || m["partial"] != true) {
			t.Fatalf("own fields: %s", doc)
		}
	}
}

// uniqueKeys checks that the top-level object has no duplicate key.
func uniqueKeys(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if _, err := dec.Token(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if seen[tok.(string)] {
			return fmt.Errorf("duplicate key %q", tok)
		}
		seen[tok.(string)] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
	}
	return nil
}

func TestActionLines(t *testing.T) {
	meta := nomadMeta("Prod", "web")
	cases := []struct {
		id   event.Value
		want string
	}{
		{event.StringValue(`a"b\c`), `{"create":{"_index":"logs-prod","_id":"a\"b\\c"}}`},
		{event.IntValue(42), `{"create":{"_index":"logs-prod","_id":"42"}}`},
		{event.StringValue(""), `{"create":{"_index":"logs-prod"}}`},
		{event.ObjectValue(event.NewFields(event.Field{Key: "k", Value: event.StringValue("v")})), `{"create":{"_index":"logs-prod","_id":"{\"k\":\"v\"}"}}`},
		{event.Value{}, `{"create":{"_index":"logs-prod"}}`},
	}
	cfg := NewConfig()
	cfg.Index = "logs-{{ nomad.namespace }}"
	enc := &bulkEncoder{action: ActionCreate, route: newRouter(cfg), idField: "doc.id", tsKey: "@timestamp"}
	for _, c := range cases {
		e := event.Event{Timestamp: time.Unix(0, 0), Message: []byte("m"), Meta: meta,
			Fields: event.NewFields(event.Field{Key: "doc", Value: event.ObjectValue(event.NewFields(event.Field{Key: "id", Value: c.id}))})}
		out := enc.AppendEvent(nil, &e, 0)
		action, doc, ok := bytes.Cut(out, []byte("\n"))
		if !ok || string(action) != c.want || !bytes.HasSuffix(doc, []byte("}\n")) || bytes.Count(doc, []byte("\n")) != 1 {
			t.Errorf("id %v: %q", c.id, out)
		}
		if !json.Valid(action) || !json.Valid(doc) {
			t.Errorf("invalid JSON: %q", out)
		}
	}
	e := event.Event{Message: []byte("m"), Meta: meta}
	if out := enc.AppendEvent(nil, &e, 0); !bytes.HasPrefix(out, []byte(`{"create":{"_index":"logs-prod"}}`+"\n")) {
		t.Errorf("without the id field: %q", out)
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"Web-API":         "web-api",
		`a\b/c*d?e"f<g>h`: "a_b_c_d_e_f_g_h",
		"x|y z,w#v:u":     "x_y_z_w_v_u",
		"été\x00\n":       "__t____",
	} {
		b := []byte(in)
		sanitizeName(b, false)
		if string(b) != want {
			t.Errorf("sanitizeName(%q) = %q, want %q", in, b, want)
		}
	}
	b := []byte("web-api")
	sanitizeName(b, true)
	if string(b) != "web_api" {
		t.Errorf("data stream part: %q", b)
	}
}
