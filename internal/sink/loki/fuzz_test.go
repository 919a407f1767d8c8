package loki

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/grafana/loki/pkg/push"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/loki/lokitest"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// FuzzPushRoundTrip encodes two events with arbitrary label values,
// messages, metadata and times, and checks that Loki's own types decode
// the protobuf body to the same values (invalid UTF-8 replaced), that
// Loki's encoder produces the very same bytes, that the label selector
// parses back, and that the JSON body is valid JSON with the same lines.
func FuzzPushRoundTrip(f *testing.F) {
	f.Add("web", []byte("hello"), "alloc-1", int64(1700000000123456789), int64(0))
	f.Add("a \"b\"\\\n\x00\xff", []byte("\xff\x00\n\"é"), "", int64(-1), int64(1<<62))
	f.Add("", []byte(""), "\u2028", int64(0), int64(-62135596800000000))
	f.Fuzz(func(t *testing.T, label string, msg []byte, md string, ts1, ts2 int64) {
		meta := event.NewMeta("f", event.NewFields(
			event.Field{Key: "job", Value: event.StringValue(label)},
			event.Field{Key: "alloc", Value: event.StringValue(md)},
		))
		evs := []event.Event{
			{Timestamp: time.Unix(0, ts1), Message: msg, Meta: meta},
			{Timestamp: time.Unix(0, ts2), Message: append([]byte("2:"), msg...), Meta: meta},
		}
		cfg := NewConfig()
		cfg.Encoding = EncodingText
		cfg.Labels = map[string]string{"job": "{{ job }}"}
		cfg.StructuredMetadata = map[string]string{"alloc": "{{ alloc }}"}
		now := time.Unix(1800000000, 0)
		body := buildBody(t, cfg, evs, now)
		var req push.PushRequest
		if err := req.Unmarshal(body); err != nil {
			t.Fatalf("Loki cannot decode: %v", err)
		}
		again, err := req.Marshal()
		if err != nil || !bytes.Equal(again, body) {
			t.Fatalf("Loki encodes the same request differently (%v)", err)
		}
		if len(req.Streams) != 1 || len(req.Streams[0].Entries) != 2 {
			t.Fatalf("streams %+v", req.Streams)
		}
		st := req.Streams[0]
		labels, err := lokitest.ParseLabels(st.Labels)
		if err != nil {
			t.Fatal(err)
		}
		want := validUTF8(label)
		if label == "" {
			if st.Labels != fallbackLabel {
				t.Fatalf("empty label gave %q", st.Labels)
			}
		} else if labels["job"] != want {
			t.Fatalf("label %q read back as %q", want, labels["job"])
		}
		lines := map[string]bool{}
		for _, e := range st.Entries {
			if !utf8.ValidString(e.Line) {
				t.Fatalf("invalid UTF-8 line %q", e.Line)
			}
			lines[e.Line] = true
			if md != "" && (len(e.StructuredMetadata) != 1 || e.StructuredMetadata[0].Value != validUTF8(md)) {
				t.Fatalf("metadata %+v for %q", e.StructuredMetadata, md)
			}
			if md == "" && len(e.StructuredMetadata) != 0 {
				t.Fatalf("metadata %+v for an empty value", e.StructuredMetadata)
			}
		}
		m := validUTF8(string(msg))
		if !lines[m] || !lines["2:"+m] {
			t.Fatalf("lines %v, want %q", lines, m)
		}
		if st.Entries[0].Timestamp.After(st.Entries[1].Timestamp) {
			t.Fatal("entries not sorted by time")
		}

		cfg.Format = FormatJSON
		jb := buildBody(t, cfg, evs, now)
		var jr struct {
			Streams []struct {
				Values [][]any `json:"values"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(jb, &jr); err != nil || len(jr.Streams) != 1 || len(jr.Streams[0].Values) != 2 {
			t.Fatalf("JSON body %q: %v", jb, err)
		}
		for _, v := range jr.Streams[0].Values {
			if _, err := strconv.ParseInt(v[0].(string), 10, 64); err != nil {
				t.Fatalf("timestamp %v", v[0])
			}
			if !lines[v[1].(string)] {
				t.Fatalf("JSON line %q", v[1])
			}
		}
	})
}

// validUTF8 replaces every byte of an invalid UTF-8 sequence by U+FFFD.
func validUTF8(s string) string { return strings.Map(func(r rune) rune { return r }, s) }

// FuzzCheckPush classifies arbitrary answers of Loki to a push as the sink
// does: it never panics; 2xx delivers; 400, 413 and 422 split the push,
// with a reason of the known set; every other answer is retried, with a
// delay that is not negative and at most a day.
func FuzzCheckPush(f *testing.F) {
	f.Add(204, "", []byte(""))
	f.Add(400, "", []byte("entry for stream '{job=\"x\"}' has timestamp too old"))
	f.Add(413, "", []byte("request body too large"))
	f.Add(429, "3", []byte("Ingestion rate limit exceeded"))
	f.Add(503, "Wed, 21 Oct 2015 07:28:00 GMT", []byte("\xff\x00"))
	f.Add(302, "", []byte(""))
	f.Add(401, "", []byte("no org id"))
	reasons := []string{ReasonTooOld, ReasonTooNew, ReasonOutOfOrder, ReasonLineTooLong, ReasonBadLabels, ReasonBadMetadata, retry.ReasonBadRequest}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
		resp.Header.Set("Retry-After", retryAfter)
		err := httpclient.CheckResponse(resp, time.Now())
		if status >= 200 && status < 300 {
			if err != nil {
				t.Fatalf("%d: %v", status, err)
			}
			return
		}
		var se *httpclient.StatusError
		if !errors.As(err, &se) || se.Code != status || len(se.Body) > httpclient.SnippetBytes*utf8.UTFMax || !utf8.ValidString(se.Body) {
			t.Fatalf("%d: %v", status, err)
		}
		class, reason := classifyPush(err)
		switch {
		case status == 400:
			if class != retry.ClassSplit || !slices.Contains(reasons, reason) {
				t.Fatalf("400 %q: %v %s", body, class, reason)
			}
		case status == 422:
			if class != retry.ClassSplit || reason != retry.ReasonBadRequest {
				t.Fatalf("422: %v %s", class, reason)
			}
		case status == 413:
			if class != retry.ClassSplit || reason != ReasonTooLarge {
				t.Fatalf("413: %v %s", class, reason)
			}
		case class != retry.ClassTransient || reason == "":
			t.Fatalf("%d: %v %q", status, class, reason)
		}
		if d, ok := retry.Delay(err); ok && (d < 0 || d > 24*time.Hour) {
			t.Fatalf("delay %s", d)
		}
	})
}
