package kafka

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"maps"
	"slices"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/kafkaclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/template"
)

// record is one event on its way to Kafka, with the buffers its Kafka
// record points into. Records are pooled: once the client called the
// promise, the record and its buffers are free again.
type record struct {
	kr kgo.Record
	// t accounts the verdict of the event to its source batch.
	t *batch.Ticket
	// ev is the event, for its dead letter; it belongs to its source
	// batch, which is not released before the record's verdict.
	ev *event.Event
	// buf holds the value, the key and the header values back to back.
	buf  []byte
	hdrs []kgo.RecordHeader
	// promise is done bound to this record, made once per record so that
	// producing allocates nothing.
	promise func(*kgo.Record, error)
	p       *producer
}

// maxPooledBuf keeps a record that carried one huge event from pinning
// its buffer in the pool.
const maxPooledBuf = 1 << 20

// reset prepares a produced record for another attempt: franz-go sets the
// partition, offset, producer fields and timestamp of the record it was
// given.
//
// The timestamp is left for franz-go to set to the time of each attempt:
// franz-go measures delivery_timeout from it, so an event's own (older)
// time would make the record time out at once.
func (r *record) reset() {
	r.kr = kgo.Record{Topic: r.kr.Topic, Key: r.kr.Key, Value: r.kr.Value, Headers: r.kr.Headers}
}

// encoder turns events into Kafka records: the topic, key and headers
// from templates, the value from the codec encoding. It is used by one
// goroutine.
type encoder struct {
	topic        *template.Template
	defaultTopic string
	key          *template.Template // nil: records without a key
	headers      []headerTemplate
	enc          codec.Encoding
	// topics interns rendered topic names, so that a record's topic costs
	// no allocation once its name was seen.
	topics  map[string]string
	scratch []byte
}

type headerTemplate struct {
	name string
	tmpl *template.Template
}

// maxInternedTopics bounds the topic cache; topics beyond it are
// allocated per record.
const maxInternedTopics = 4096

func newEncoder(c *Config) *encoder {
	e := &encoder{
		topic:        template.MustParse(c.Topic),
		defaultTopic: c.DefaultTopic,
		topics:       map[string]string{},
	}
	e.enc, _ = codec.ParseEncoding(c.Encoding)
	if c.Key != "" {
		e.key = template.MustParse(c.Key)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		e.headers = append(e.headers, headerTemplate{name, template.MustParse(c.Headers[name])})
	}
	return e
}

// encode fills r's Kafka record from ev. It returns "" on success, or why
// the event has no valid topic: the field its topic template misses (with
// no default_topic), or the invalid name it rendered.
func (e *encoder) encode(r *record, ev *event.Event) (refusal string) {
	topic, refusal := e.topicOf(ev)
	if refusal != "" {
		return refusal
	}
	buf := e.enc.Append(r.buf[:0], ev)
	valueEnd := len(buf)
	keyEnd := valueEnd
	hasKey := false
	if e.key != nil {
		var ok bool
		if buf, ok = e.key.Render(buf, ev); ok {
			keyEnd, hasKey = len(buf), true
		} else {
			buf = buf[:valueEnd]
		}
	}
	// Header values follow the key. A value is sliced from buf as it is
	// now; buf may still move, so the values are sliced again below.
	hdrs := r.hdrs[:0]
	for _, h := range e.headers {
		mark := len(buf)
		var ok bool
		if buf, ok = h.tmpl.Render(buf, ev); !ok {
			buf = buf[:mark]
			continue
		}
		hdrs = append(hdrs, kgo.RecordHeader{Key: h.name, Value: buf[mark:]})
	}
	r.buf = buf
	// The timestamp is left for franz-go to set (see reset).
	r.kr = kgo.Record{Topic: topic, Value: buf[:valueEnd:valueEnd]}
	if hasKey {
		r.kr.Key = buf[valueEnd:keyEnd:keyEnd]
	}
	if len(hdrs) > 0 {
		off := keyEnd
		for i := range hdrs {
			n := len(hdrs[i].Value)
			hdrs[i].Value = buf[off : off+n : off+n]
			off += n
		}
		r.kr.Headers = hdrs
	}
	r.hdrs = hdrs
	return ""
}

// topicOf renders ev's topic, falling back to the default topic.
func (e *encoder) topicOf(ev *event.Event) (topic, refusal string) {
	var ok bool
	e.scratch, ok = e.topic.Render(e.scratch[:0], ev)
	if !ok {
		if e.defaultTopic == "" {
			return "", "field " + e.topic.FirstMissing(ev) + " of the topic template is missing or empty and no default_topic is set"
		}
		return e.defaultTopic, ""
	}
	if t, ok := e.topics[string(e.scratch)]; ok {
		return t, ""
	}
	if !kafkaclient.ValidTopic(string(e.scratch)) {
		return "", "the topic template rendered " + quote(e.scratch) + ", which is not a valid Kafka topic name"
	}
	t := string(e.scratch)
	if len(e.topics) < maxInternedTopics {
		e.topics[t] = t
	}
	return t, ""
}

func quote(b []byte) string {
	if len(b) > 300 {
		b = b[:300]
	}
	return "\"" + string(b) + "\""
}
