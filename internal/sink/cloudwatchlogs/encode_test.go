package cloudwatchlogs

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
)

func TestEncoderHeaderAndMessage(t *testing.T) {
	x := encoder{encoding: codec.Text, maxMessage: 100, now: func() time.Time { return time.UnixMilli(42) }}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	out := x.AppendEvent([]byte("prefix"), &event.Event{Timestamp: ts, Message: []byte("hello \xff")}, 0)
	d := decode(out[len("prefix"):])
	if d.timestamp != ts.UnixMilli() || d.truncated || string(d.message) != "hello \uFFFD" {
		t.Fatalf("decoded %+v %q", d, d.message)
	}
	if len(out)-len("prefix") != EventOverhead+len(d.message) {
		t.Fatalf("an event takes %d bytes, want the message plus %d", len(out)-len("prefix"), EventOverhead)
	}
	d = decode(x.AppendEvent(nil, &event.Event{Message: []byte("no time")}, 0))
	if d.timestamp != 42 {
		t.Fatalf("an event without a timestamp got %d", d.timestamp)
	}
}

// TestEncoderTruncation checks random messages against random limits: the
// message fits, is valid UTF-8 (and valid JSON with the JSON encoding),
// and is flagged truncated exactly when the whole one would not fit.
func TestEncoderTruncation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "é", "€", "😀", "\"", "\\", "\n", "\x01", "\xff", "\u2028", "plain text "}
	meta := event.NewMeta("t", event.NewFields(event.Field{Key: "host", Value: event.StringValue("node-1")}))
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		for n := r.IntN(400); n > 0; n-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		msg := b.String()
		for _, enc := range []codec.Encoding{codec.Text, codec.JSON} {
			max := 1 + r.IntN(600)
			x := encoder{encoding: enc, maxMessage: max, now: time.Now}
			e := event.Event{Timestamp: time.Unix(1, 0), Message: []byte(msg), Meta: meta}
			d := decode(x.AppendEvent(nil, &e, 0))
			full := enc.Append(nil, &e)
			if len(d.message) > max {
				t.Fatalf("%s message of %d bytes over %d: %q", enc, len(d.message), max, msg)
			}
			if !utf8.Valid(d.message) {
				t.Fatalf("%s message is not UTF-8: %q", enc, d.message)
			}
			if enc == codec.JSON && len(full) <= max && !json.Valid(d.message) {
				t.Fatalf("JSON message invalid: %s", d.message)
			}
			if enc == codec.JSON && d.truncated && max >= 200 && !json.Valid(d.message) {
				t.Fatalf("truncated JSON with room for the fields is invalid: %s", d.message)
			}
			if len(full) <= max && enc == codec.JSON && d.truncated {
				t.Fatalf("a fitting message was flagged truncated")
			}
			if len(full) > max && !d.truncated {
				t.Fatalf("a long message was not flagged")
			}
			if !d.truncated && string(d.message) != strings.ToValidUTF8(string(full), "\uFFFD") {
				t.Fatalf("a message that fits was changed: %q, want %q", d.message, full)
			}
		}
	}
}
