package loki

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/loki/lokitest"
)

// buildBody encodes evs as one push body with the templates of cfg.
func buildBody(t testing.TB, cfg *Config, evs []event.Event, now time.Time) []byte {
	t.Helper()
	labels := newTemplateSet(cfg.Labels, cfg.LabelDefaults)
	md := newTemplateSet(cfg.StructuredMetadata, nil)
	b := newPushBuilder(&labels, &md, cfg.Format == FormatJSON)
	enc := lineEncoder{text: cfg.Encoding == EncodingText}
	ptrs := make([]*event.Event, len(evs))
	lines := make([][]byte, len(evs))
	idx := make([]int32, len(evs))
	for i := range evs {
		ptrs[i], idx[i] = &evs[i], int32(i)
		lines[i] = enc.AppendEvent(nil, &evs[i], i)
	}
	return b.build(nil, ptrs, lines, idx, now)
}

// decoded is a stream as a test expects it.
type decoded struct {
	labels  string
	entries []string // "<unix ns> <line> <metadata>"
}

func decodeProtoBody(t *testing.T, body []byte) []decoded {
	t.Helper()
	var req push.PushRequest
	if err := req.Unmarshal(body); err != nil {
		t.Fatalf("Loki's types cannot decode the body: %v", err)
	}
	// Loki's own encoder must produce the very same bytes.
	again, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, body) {
		t.Errorf("body differs from Loki's encoding of the same request:\n got %x\nwant %x", body, again)
	}
	var out []decoded
	for _, s := range req.Streams {
		if _, err := lokitest.ParseLabels(s.Labels); err != nil {
			t.Errorf("labels do not parse: %v", err)
		}
		d := decoded{labels: s.Labels}
		for _, e := range s.Entries {
			md := map[string]string{}
			for _, l := range e.StructuredMetadata {
				md[l.Name] = l.Value
			}
			d.entries = append(d.entries, fmt.Sprintf("%d %s %v", e.Timestamp.UnixNano(), e.Line, md))
		}
		out = append(out, d)
	}
	return out
}

func decodeJSONBody(t *testing.T, body []byte) []decoded {
	t.Helper()
	var req struct {
		Streams []struct {
			Stream map[string]string `json:"stream"`
			Values [][]any           `json:"values"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("JSON body %s: %v", body, err)
	}
	var out []decoded
	for _, s := range req.Streams {
		d := decoded{labels: lokitest.FormatLabels(s.Stream)}
		for _, v := range s.Values {
			md := map[string]string{}
			if len(v) == 3 {
				for k, x := range v[2].(map[string]any) {
					md[k] = x.(string)
				}
			}
			d.entries = append(d.entries, fmt.Sprintf("%s %s %v", v[0], v[1], md))
		}
		out = append(out, d)
	}
	return out
}

func TestPushBodyGroupsSortsAndLabels(t *testing.T) {
	web := nomadMeta("prod", "web", "a1")
	api := nomadMeta("prod", `api "v2"\`+"\n\xff", "b2")
	bare := event.NewMeta("file", event.NewFields(event.Field{Key: "file", Value: event.StringValue("/var/log/x.log")}))
	t0 := time.Unix(1700000000, 0)
	now := time.Unix(1800000000, 5)
	own := ev(web, "own fields", t0.Add(time.Second))
	own.Fields = event.NewFields(event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
		event.Field{Key: "job_name", Value: event.StringValue("api \"v2\"\\\n\xff")},
		event.Field{Key: "namespace", Value: event.StringValue("prod")},
	))})
	evs := []event.Event{
		ev(web, "w3", t0.Add(3*time.Second)),
		ev(api, "a1", t0.Add(time.Second)),
		ev(web, "w1", t0.Add(time.Second)),
		ev(bare, "b-zero-time", time.Time{}),
		ev(web, "w1-again", t0.Add(time.Second)), // equal times keep their order
		own,
		ev(api, "a0", t0),
	}
	cfg := NewConfig()
	cfg.Labels = map[string]string{"job": "{{ nomad.job_name }}", "namespace": "{{ nomad.namespace }}"}
	cfg.LabelDefaults = map[string]string{"namespace": "none"}
	cfg.StructuredMetadata = map[string]string{"alloc_id": "{{ nomad.alloc_id }}", "file": "{{ file }}"}
	cfg.Encoding = EncodingText

	wantLabels := []string{
		`{job="web", namespace="prod"}`,
		`{job="api \"v2\"\\\n` + "\uFFFD" + `", namespace="prod"}`,
		`{namespace="none"}`,
	}
	ns := func(t time.Time) int64 { return t.UnixNano() }
	want := []decoded{
		{wantLabels[0], []string{
			fmt.Sprintf("%d w1 map[alloc_id:a1]", ns(t0.Add(time.Second))),
			fmt.Sprintf("%d w1-again map[alloc_id:a1]", ns(t0.Add(time.Second))),
			fmt.Sprintf("%d w3 map[alloc_id:a1]", ns(t0.Add(3*time.Second))),
		}},
		{wantLabels[1], []string{
			fmt.Sprintf("%d a0 map[alloc_id:b2]", ns(t0)),
			fmt.Sprintf("%d a1 map[alloc_id:b2]", ns(t0.Add(time.Second))),
			fmt.Sprintf("%d own fields map[alloc_id:a1]", ns(t0.Add(time.Second))),
		}},
		{wantLabels[2], []string{fmt.Sprintf("%d b-zero-time map[file:/var/log/x.log]", ns(now))}},
	}
	for _, format := range []string{FormatProtobuf, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			cfg.Format = format
			body := buildBody(t, cfg, evs, now)
			var got []decoded
			if format == FormatProtobuf {
				got = decodeProtoBody(t, body)
			} else {
				got = decodeJSONBody(t, body)
				// The JSON stream labels went through a map: compare parsed.
				for i := range want {
					m, err := lokitest.ParseLabels(want[i].labels)
					if err != nil {
						t.Fatal(err)
					}
					want[i].labels = lokitest.FormatLabels(m)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n%q\nwant\n%q", got, want)
			}
			if format == FormatProtobuf {
				m, err := lokitest.ParseLabels(got[1].labels)
				if err != nil || m["job"] != "api \"v2\"\\\n\uFFFD" {
					t.Fatalf("label value read back as %q (%v)", m["job"], err)
				}
			}
		})
	}
}

func TestPushBodyJSONLinesAndFallbackLabel(t *testing.T) {
	meta := nomadMeta("prod", "web", "a1")
	e := ev(meta, "hello \"world\"\x00", time.Unix(1700000000, 123))
	e.Flags = event.Truncated
	cfg := NewConfig()
	cfg.Labels = map[string]string{"team": "{{ nomad.meta.team }}"} // missing, no default
	body := buildBody(t, cfg, []event.Event{e}, time.Now())
	got := decodeProtoBody(t, body)
	wantLine := string(codec.AppendJSON(nil, &e))
	if len(got) != 1 || got[0].labels != fallbackLabel || got[0].entries[0] != "1700000000000000123 "+wantLine+" map[]" {
		t.Fatalf("decoded %q", got)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(wantLine), &obj); err != nil || obj["truncated"] != true {
		t.Fatalf("line %s: %v", wantLine, err)
	}
	cfg.Format = FormatJSON
	jb := buildBody(t, cfg, []event.Event{e}, time.Now())
	if !strings.Contains(string(jb), `{"stream":{"agent":"drover"},"values":[["1700000000000000123",`) {
		t.Fatalf("JSON body %s", jb)
	}
}

func TestPushBuilderReusesStreamsAcrossRequests(t *testing.T) {
	cfg := NewConfig()
	cfg.Labels = map[string]string{"job": "{{ nomad.job_name }}"}
	labels := newTemplateSet(cfg.Labels, nil)
	md := newTemplateSet(nil, nil)
	b := newPushBuilder(&labels, &md, false)
	metas := []*event.Meta{nomadMeta("a", "x", "1"), nomadMeta("a", "y", "2")}
	for round := range 3 {
		// Stream order follows first appearance in each request.
		first := metas[round%2]
		second := metas[(round+1)%2]
		evs := []*event.Event{{Meta: first, Message: []byte("1"), Timestamp: time.Unix(1, 0)},
			{Meta: second, Message: []byte("2"), Timestamp: time.Unix(1, 0)}}
		body := b.build(nil, evs, [][]byte{[]byte("1"), []byte("2")}, []int32{0, 1}, time.Now())
		got := decodeProtoBody(t, body)
		wantFirst, _ := first.Fields.Get("nomad.job_name")
		if len(got) != 2 || got[0].labels != fmt.Sprintf(`{job="%s"}`, wantFirst.Str()) {
			t.Fatalf("round %d: %q", round, got)
		}
	}
	if len(b.index) != 2 {
		t.Fatalf("%d label sets cached", len(b.index))
	}
}
