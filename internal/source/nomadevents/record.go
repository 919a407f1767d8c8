package nomadevents

import (
	"time"

	"github.com/drover-dev/drover/internal/event"
)

// SourceType is the value of the source_type field of every event.
const SourceType = "nomad_events"

// newMeta returns the metadata shared by every event of one source.
func newMeta(id, host string) *event.Meta {
	return event.NewMeta(id, event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue(SourceType)},
		event.Field{Key: "host", Value: event.StringValue(host)},
	))
}

// buildEvent fills dst from one Nomad event:
//
//   - Message is the event's JSON object exactly as Nomad sent it;
//   - Timestamp is the payload's modification time when it has one
//     (Allocation and Evaluation ModifyTime), else received;
//   - Fields are topic, type, namespace, key, index, the payload's flat
//     summary fields, and synthetic=true for events drover made up (resync
//     snapshots).
//
// The fields point into the bytes of ev (no copies): they must outlive dst.
func buildEvent(dst *event.Event, ev *rawEvent, meta *event.Meta, received time.Time, synthetic bool) {
	var buf [6 + maxSummary]event.Field
	fs := append(buf[:0],
		event.Field{Key: "topic", Value: event.BytesValue(ev.topic)},
		event.Field{Key: "type", Value: event.BytesValue(ev.typ)},
		event.Field{Key: "namespace", Value: event.BytesValue(ev.namespace)},
		event.Field{Key: "key", Value: event.BytesValue(ev.key)},
		event.Field{Key: "index", Value: event.IntValue(int64(ev.index))},
	)
	fs = append(fs, ev.summaryFields()...)
	if synthetic {
		fs = append(fs, event.Field{Key: "synthetic", Value: event.BoolValue(true)})
	}
	ts := received
	if ev.hasTime {
		ts = time.Unix(0, ev.time).UTC()
	}
	*dst = event.Event{
		Timestamp: ts,
		Message:   ev.raw,
		Meta:      meta,
		Fields:    event.NewFields(fs...),
	}
}
