package journald

import (
	"time"
	"unsafe"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/jsonenc"
)

// SourceType is the value of the source_type field of every event.
const SourceType = "journald"

// Journal fields the builder maps onto the event itself.
const (
	fieldMessage  = "MESSAGE"
	fieldHostname = "_HOSTNAME"
	fieldRealtime = "__REALTIME_TIMESTAMP"
	fieldCursor   = "__CURSOR"
	// journaldKey is the event field holding the other journal fields.
	journaldKey = "journald"
)

// Bounds of the builder's caches. Beyond them names and metadata are made
// afresh for each entry: correct, only slower.
const (
	maxInternedKeys = 4096
	maxMetas        = 256
	arenaChunk      = 64 << 10
)

// builder turns decoded entries into events:
//
//   - Message is the first value of MESSAGE (empty without one), cut at
//     max_message_bytes and then flagged event.Truncated;
//   - Timestamp is __REALTIME_TIMESTAMP (microseconds since the epoch), or
//     the time the entry was read when it has none;
//   - Meta holds source_type and host: _HOSTNAME when the entry has it,
//     else drover's host; one Meta per host is shared by its events;
//   - Fields holds "journald", an object of every other field except the
//     addresses (fields starting with "__"), named as field_names says.
//     A field with several values is a JSON array of strings; binary
//     values are bytes (sinks escape what is not UTF-8 text).
//
// The bytes of the events live in arena chunks that are never written
// again once handed out, so events stay valid after the builder moves on.
// A builder is used by one goroutine.
type builder struct {
	source     string
	host       string
	lowercase  bool
	maxMessage int
	exclude    map[string][]string

	metas map[string]*event.Meta
	keys  map[string]string
	arena []byte
	fs    []event.Field
}

func newBuilder(source, host string, cfg *Config) *builder {
	return &builder{
		source:     source,
		host:       host,
		lowercase:  cfg.FieldNames == FieldNamesLowercase,
		maxMessage: int(cfg.MaxMessageBytes),
		exclude:    cfg.ExcludeMatches,
		metas:      map[string]*event.Meta{},
		keys:       map[string]string{},
	}
}

// excluded reports whether an exclude match drops e.
func (b *builder) excluded(e *rawEntry) bool {
	if len(b.exclude) == 0 {
		return false
	}
	for i := range e.fields {
		f := &e.fields[i]
		drop, ok := b.exclude[string(e.key(f))]
		if !ok {
			continue
		}
		for j := 0; j < f.n; j++ {
			v := e.value(f, j)
			for _, d := range drop {
				if string(v) == d {
					return true
				}
			}
		}
	}
	return false
}

// build fills dst from e; read is when the entry was read.
func (b *builder) build(dst *event.Event, e *rawEntry, read time.Time) {
	*dst = event.Event{Timestamp: read}
	host := b.host
	b.fs = b.fs[:0]
	for i := range e.fields {
		f := &e.fields[i]
		if f.n == 0 {
			continue
		}
		key := e.key(f)
		switch string(key) {
		case fieldMessage:
			msg := e.value(f, 0)
			if len(msg) > b.maxMessage {
				msg = msg[:b.maxMessage]
				dst.Flags |= event.Truncated
			}
			dst.Message = b.copy(msg)
			continue
		case fieldHostname:
			if h := e.value(f, 0); len(h) > 0 {
				host = unsafe.String(unsafe.SliceData(h), len(h)) // looked up, copied if kept
			}
			continue
		case fieldRealtime:
			if us, ok := parseMicros(e.value(f, 0)); ok {
				dst.Timestamp = time.UnixMicro(us).UTC()
			}
			continue
		}
		if len(key) >= 2 && key[0] == '_' && key[1] == '_' {
			continue // __CURSOR, __MONOTONIC_TIMESTAMP, __SEQNUM, ...
		}
		b.fs = append(b.fs, event.Field{Key: b.name(key), Value: b.fieldValue(e, f)})
	}
	dst.Meta = b.meta(host)
	if len(b.fs) > 0 {
		dst.Fields = event.NewFields(event.Field{Key: journaldKey, Value: event.ObjectValue(event.NewFields(b.fs...))})
	}
}

// fieldValue returns the value of f, copied into the arena.
func (b *builder) fieldValue(e *rawEntry, f *rawField) event.Value {
	if !f.multi {
		return event.BytesValue(b.copy(e.value(f, 0)))
	}
	var raw []byte
	raw = append(raw, '[')
	for j := 0; j < f.n; j++ {
		if j > 0 {
			raw = append(raw, ',')
		}
		raw = jsonenc.AppendBytes(raw, e.value(f, j))
	}
	raw = append(raw, ']')
	return event.RawJSONValue(raw)
}

// name returns the event field name of a journal field name, interned.
func (b *builder) name(key []byte) string {
	if s, ok := b.keys[string(key)]; ok {
		return s
	}
	out := make([]byte, len(key))
	for i, c := range key {
		if b.lowercase && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	s := string(out)
	if len(b.keys) < maxInternedKeys {
		b.keys[string(key)] = s
	}
	return s
}

// meta returns the shared metadata of the events of host.
func (b *builder) meta(host string) *event.Meta {
	if m, ok := b.metas[host]; ok {
		return m
	}
	host = string([]byte(host)) // it may alias the decoder's buffer
	m := event.NewMeta(b.source, event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue(SourceType)},
		event.Field{Key: "host", Value: event.StringValue(host)},
	))
	if len(b.metas) < maxMetas {
		b.metas[host] = m
	}
	return m
}

// copy returns a copy of p in the arena. The copy is never written again.
func (b *builder) copy(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	if len(p) > cap(b.arena)-len(b.arena) {
		b.arena = make([]byte, 0, max(arenaChunk, len(p)))
	}
	start := len(b.arena)
	b.arena = append(b.arena, p...)
	return b.arena[start:len(b.arena):len(b.arena)]
}

// parseMicros parses a decimal number of microseconds.
func parseMicros(p []byte) (int64, bool) {
	if len(p) == 0 || len(p) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
