package disk

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

func allKinds() *event.Fields {
	return event.NewFields(
		event.Field{Key: "null", Value: event.Value{}},
		event.Field{Key: "str", Value: event.StringValue("héllo \"q\"")},
		event.Field{Key: "bytes", Value: event.BytesValue([]byte("raw\x00bytes"))},
		event.Field{Key: "int", Value: event.IntValue(-1 << 40)},
		event.Field{Key: "float", Value: event.FloatValue(3.25)},
		event.Field{Key: "true", Value: event.BoolValue(true)},
		event.Field{Key: "false", Value: event.BoolValue(false)},
		event.Field{Key: "time", Value: event.TimeValue(time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.UTC))},
		event.Field{Key: "obj", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "a", Value: event.IntValue(1)},
			event.Field{Key: "nested", Value: event.ObjectValue(event.NewFields(event.Field{Key: "b", Value: event.StringValue("c")}))},
		))},
		event.Field{Key: "raw", Value: event.RawJSONValue([]byte(`{"x":[1,2,{"y":null}]}`))},
		event.Field{Key: "", Value: event.StringValue("empty key")},
	)
}

// sameValue compares values by kind and content.
func sameValue(t *testing.T, path string, got, want event.Value) {
	t.Helper()
	if got.Kind() != want.Kind() {
		t.Errorf("%s: kind %d, want %d", path, got.Kind(), want.Kind())
		return
	}
	switch want.Kind() {
	case event.KindTime:
		if !got.Time().Equal(want.Time()) {
			t.Errorf("%s: time %v, want %v", path, got.Time(), want.Time())
		}
	case event.KindObject:
		sameFields(t, path, got.Object(), want.Object())
	default:
		if g, w := string(got.AppendJSON(nil)), string(want.AppendJSON(nil)); g != w {
			t.Errorf("%s: %s, want %s", path, g, w)
		}
	}
}

func sameFields(t *testing.T, path string, got, want *event.Fields) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Errorf("%s: fields %v, want %v", path, got, want)
		return
	}
	g, w := got.All(), want.All()
	if len(g) != len(w) {
		t.Errorf("%s: %d fields, want %d", path, len(g), len(w))
		return
	}
	for i := range w {
		if g[i].Key != w[i].Key {
			t.Errorf("%s[%d]: key %q, want %q", path, i, g[i].Key, w[i].Key)
		}
		sameValue(t, path+"."+w[i].Key, g[i].Value, w[i].Value)
	}
}

func sameEvents(t *testing.T, got, want []event.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := &got[i], &want[i]
		if !bytes.Equal(g.Message, w.Message) || g.Flags != w.Flags || !g.Timestamp.Equal(w.Timestamp) {
			t.Errorf("event %d: %q %v %v, want %q %v %v", i, g.Message, g.Flags, g.Timestamp, w.Message, w.Flags, w.Timestamp)
		}
		sameFields(t, "fields", g.Fields, w.Fields)
		if (g.Meta == nil) != (w.Meta == nil) {
			t.Fatalf("event %d: meta %v, want %v", i, g.Meta, w.Meta)
		}
		if w.Meta != nil {
			if g.Meta.Source != w.Meta.Source || !bytes.Equal(g.Meta.JSONMembers(), w.Meta.JSONMembers()) {
				t.Errorf("event %d: meta %s %s, want %s %s", i, g.Meta.Source, g.Meta.JSONMembers(), w.Meta.Source, w.Meta.JSONMembers())
			}
			sameFields(t, "meta", g.Meta.Fields, w.Meta.Fields)
		}
	}
}

func roundTrip(t *testing.T, evs []event.Event, cache *metaCache) []event.Event {
	t.Helper()
	var enc encoder
	rec := enc.appendRecord(nil, evs, time.Unix(0, 12345))
	n, sum, ok := parseRecordHeader(rec)
	if !ok || n != int64(len(rec)-recordHeaderLen) || sum != checksum(rec[recordHeaderLen:]) {
		t.Fatalf("bad header: n=%d ok=%v", n, ok)
	}
	got, info, err := decodeBatch(rec[recordHeaderLen:], cache)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if info.writtenAt != 12345 || info.events != len(evs) {
		t.Fatalf("info %+v", info)
	}
	return got
}

func TestCodecRoundTripsEveryKind(t *testing.T) {
	metaA := event.NewMeta("src-a", event.NewFields(
		event.Field{Key: "file", Value: event.StringValue("/alloc/logs/web.stdout.0")},
		event.Field{Key: "nomad", Value: event.ObjectValue(allKinds())},
	))
	metaB := event.NewMeta("src-b", nil)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	evs := []event.Event{
		{Timestamp: ts, Message: []byte("first"), Meta: metaA, Fields: allKinds()},
		{Timestamp: ts.Add(time.Nanosecond), Message: []byte{}, Meta: metaA, Flags: event.Truncated | event.Partial},
		{Timestamp: time.Time{}, Message: []byte("zero time, nil meta"), Meta: nil},
		{Timestamp: time.Unix(-5, 999999999), Message: []byte("b\xff\x00"), Meta: metaB, Fields: event.NewFields()},
		{Timestamp: ts, Message: []byte("back to a"), Meta: metaA, Flags: 0x80},
	}
	got := roundTrip(t, evs, newMetaCache())
	sameEvents(t, got, evs)
	if got[0].Meta != got[1].Meta || got[0].Meta != got[4].Meta {
		t.Error("events of one stream do not share their decoded metadata")
	}
	if got[2].Timestamp != (time.Time{}) {
		t.Errorf("zero time came back as %v", got[2].Timestamp)
	}
}

func TestCodecSharesMetadataAcrossRecords(t *testing.T) {
	cache := newMetaCache()
	mk := func() []event.Event {
		// A distinct *Meta with the same content each time, as after a
		// restart of the source.
		m := event.NewMeta("s", event.NewFields(event.Field{Key: "host", Value: event.StringValue("n1")}))
		return []event.Event{{Message: []byte("x"), Meta: m}}
	}
	a, b := roundTrip(t, mk(), cache), roundTrip(t, mk(), cache)
	if a[0].Meta != b[0].Meta {
		t.Fatal("identical metadata of two records decoded into two values")
	}
	other := roundTrip(t, []event.Event{{Message: []byte("y"), Meta: event.NewMeta("s", nil)}}, cache)
	if other[0].Meta == a[0].Meta {
		t.Fatal("different metadata shared one value")
	}
}

func TestCodecKeepsDeepObjectsAsJSON(t *testing.T) {
	f := event.NewFields(event.Field{Key: "leaf", Value: event.IntValue(1)})
	for i := 0; i < maxDepth+5; i++ {
		f = event.NewFields(event.Field{Key: "d", Value: event.ObjectValue(f)})
	}
	evs := []event.Event{{Message: []byte("deep"), Fields: f}}
	got := roundTrip(t, evs, newMetaCache())
	if g, w := string(got[0].Fields.AppendJSON(nil)), string(f.AppendJSON(nil)); g != w {
		t.Fatalf("JSON differs:\n got %s\nwant %s", g, w)
	}
	path := strings.Repeat("d.", maxDepth) + "d"
	if v, ok := got[0].Fields.Get(path); !ok || v.Kind() != event.KindRawJSON {
		t.Fatalf("value at depth %d: %v %v, want raw JSON", maxDepth+1, v.Kind(), ok)
	}
}

func TestDecodeRejectsTruncatedPayloads(t *testing.T) {
	var enc encoder
	evs := []event.Event{{Message: []byte("hello"), Meta: event.NewMeta("s", allKinds()), Fields: allKinds()}}
	rec := enc.appendRecord(nil, evs, time.Now())
	payload := rec[recordHeaderLen:]
	for n := 0; n < len(payload); n++ {
		if _, _, err := decodeBatch(payload[:n], newMetaCache()); err == nil {
			t.Fatalf("a payload cut at %d of %d bytes decoded", n, len(payload))
		}
	}
	if _, _, err := decodeBatch(append(append([]byte(nil), payload...), 0), newMetaCache()); err == nil {
		t.Fatal("a payload with a trailing byte decoded")
	}
}

// FuzzDecodeBatch: no payload makes the decoder panic or run long.
func FuzzDecodeBatch(f *testing.F) {
	var enc encoder
	f.Add(enc.appendRecord(nil, []event.Event{{Message: []byte("m"), Meta: event.NewMeta("s", allKinds()), Fields: allKinds()}}, time.Now())[recordHeaderLen:])
	f.Add([]byte{payloadVersion, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		evs, _, err := decodeBatch(p, newMetaCache())
		if err == nil {
			// What decodes encodes again to the same events.
			var e encoder
			again, _, err := decodeBatch(e.appendRecord(nil, evs, time.Now())[recordHeaderLen:], newMetaCache())
			if err != nil {
				t.Fatalf("re-encoding decoded events: %v", err)
			}
			if len(again) != len(evs) {
				t.Fatalf("%d events after re-encoding, want %d", len(again), len(evs))
			}
		}
	})
}
