package loki

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/jsonenc"
)

// Field numbers of Loki's push API, package logproto in
// github.com/grafana/loki/pkg/push/push.proto:
//
//	PushRequest      { repeated StreamAdapter streams = 1; }
//	StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; }
//	EntryAdapter     { google.protobuf.Timestamp timestamp = 1; string line = 2;
//	                   repeated LabelPairAdapter structuredMetadata = 3; }
//	LabelPairAdapter { string name = 1; string value = 2; }
//	Timestamp        { int64 seconds = 1; int32 nanos = 2; }
const (
	fieldRequestStreams   protowire.Number = 1
	fieldStreamLabels     protowire.Number = 1
	fieldStreamEntries    protowire.Number = 2
	fieldEntryTimestamp   protowire.Number = 1
	fieldEntryLine        protowire.Number = 2
	fieldEntryMetadata    protowire.Number = 3
	fieldPairName         protowire.Number = 1
	fieldPairValue        protowire.Number = 2
	fieldTimestampSeconds protowire.Number = 1
	fieldTimestampNanos   protowire.Number = 2
)

// maxStreamCache bounds the label sets a builder remembers between
// requests; past it the cache starts afresh, so that labels of unbounded
// cardinality cannot grow memory without limit.
const maxStreamCache = 4096

// pushBuilder builds push request bodies: it groups a request's entries by
// stream, sorts each stream's entries by time (stably) and encodes them as
// protobuf or JSON. A pushBuilder is used by one goroutine at a time; the
// sink keeps them in a pool. Its buffers and its cache of label sets are
// reused, so that building a body allocates only for label sets it has not
// seen before.
type pushBuilder struct {
	labels   *templateSet
	metadata *templateSet
	json     bool

	gen     uint32
	index   map[string]*streamSlot
	streams []pushStream
	entries []entry
	sorted  []entry
	md      []byte // encoded structured metadata of the entries
	key     []byte
	tmp     []byte
	tmp2    []byte
}

// streamSlot is a label set the builder has seen, with its JSON form.
type streamSlot struct {
	key  string // {a="x", b="y"}
	json []byte // {"a":"x","b":"y"}, JSON format only
	gen  uint32 // the build that last used the slot
	idx  int32  // the slot's index in streams during build gen
}

// pushStream is one stream of the body being built.
type pushStream struct {
	slot   *streamSlot
	off, n int
}

// entry is one log entry of the body being built.
type entry struct {
	stream int32
	nsec   int32
	sec    int64
	line   []byte
	md0    int32 // structured metadata: b.md[md0:md1]
	md1    int32
	size   int // encoded size of the EntryAdapter message
}

func newPushBuilder(labels, metadata *templateSet, json bool) *pushBuilder {
	return &pushBuilder{labels: labels, metadata: metadata, json: json, index: map[string]*streamSlot{}}
}

// build appends the push body of the events evs[i] for every i in idx,
// whose lines are lines[i], to dst. Events without a timestamp get now.
func (b *pushBuilder) build(dst []byte, evs []*event.Event, lines [][]byte, idx []int32, now time.Time) []byte {
	b.gen++
	if len(b.index) > maxStreamCache {
		clear(b.index)
	}
	b.streams, b.entries, b.md = b.streams[:0], b.entries[:0], b.md[:0]
	var (
		lastMeta   *event.Meta
		lastStream int32
		mdMeta     *event.Meta
		md0, md1   int32
	)
	for _, i := range idx {
		e := evs[i]
		own := e.Fields != nil
		stream := lastStream
		if own || e.Meta != lastMeta || !b.labels.metaOnly || lastMeta == nil {
			stream = b.stream(e)
			lastMeta, lastStream = e.Meta, stream
			if own {
				lastMeta = nil
			}
		}
		if own || e.Meta != mdMeta || !b.metadata.metaOnly || mdMeta == nil {
			md0 = int32(len(b.md))
			b.md = b.appendMetadata(b.md, e)
			md1 = int32(len(b.md))
			mdMeta = e.Meta
			if own {
				mdMeta = nil
			}
		}
		ts := e.Timestamp
		if ts.IsZero() {
			ts = now
		}
		b.entries = append(b.entries, entry{
			stream: stream, sec: ts.Unix(), nsec: int32(ts.Nanosecond()),
			line: lines[i], md0: md0, md1: md1,
		})
		b.streams[stream].n++
	}
	b.group()
	if b.json {
		return b.appendJSON(dst)
	}
	return b.appendProto(dst)
}

// stream returns the index of e's stream in b.streams, adding it when it
// is new to this build.
func (b *pushBuilder) stream(e *event.Event) int32 {
	b.key, b.tmp = b.labels.appendLabels(b.key[:0], b.tmp, e)
	slot := b.index[string(b.key)]
	if slot == nil {
		slot = &streamSlot{key: string(b.key)}
		if b.json {
			slot.json, b.tmp = b.labels.appendJSONLabels(nil, b.tmp, e)
		}
		b.index[slot.key] = slot
	}
	if slot.gen != b.gen {
		slot.gen, slot.idx = b.gen, int32(len(b.streams))
		b.streams = append(b.streams, pushStream{slot: slot})
	}
	return slot.idx
}

// appendMetadata appends e's structured metadata in the body's format:
// repeated LabelPairAdapter fields for protobuf, a JSON object for JSON
// (nothing when no entry is present).
func (b *pushBuilder) appendMetadata(dst []byte, e *event.Event) []byte {
	s := b.metadata
	start := len(dst)
	for i := range s.list {
		var v []byte
		var ok bool
		if v, ok = s.value(i, b.tmp2, e); !ok {
			b.tmp2 = v
			continue
		}
		b.tmp2 = v
		name := s.list[i].name
		if b.json {
			if len(dst) == start {
				dst = append(dst, '{')
			} else {
				dst = append(dst, ',')
			}
			dst = jsonenc.AppendString(dst, name)
			dst = append(dst, ':')
			dst = jsonenc.AppendBytes(dst, v)
			continue
		}
		v = appendValidUTF8(b.tmp[:0], v)
		b.tmp = v
		pair := protowire.SizeTag(fieldPairName) + protowire.SizeBytes(len(name)) +
			protowire.SizeTag(fieldPairValue) + protowire.SizeBytes(len(v))
		dst = protowire.AppendTag(dst, fieldEntryMetadata, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(pair))
		dst = protowire.AppendTag(dst, fieldPairName, protowire.BytesType)
		dst = protowire.AppendString(dst, name)
		dst = protowire.AppendTag(dst, fieldPairValue, protowire.BytesType)
		dst = protowire.AppendBytes(dst, v)
	}
	if b.json && len(dst) > start {
		dst = append(dst, '}')
	}
	return dst
}

// group orders the entries by stream, in order of the streams' first
// entries, and each stream's entries by time; entries with equal times keep
// their order.
func (b *pushBuilder) group() {
	off := 0
	for i := range b.streams {
		b.streams[i].off = off
		off += b.streams[i].n
		b.streams[i].n = 0
	}
	b.sorted = slices.Grow(b.sorted[:0], len(b.entries))[:len(b.entries)]
	for _, e := range b.entries {
		st := &b.streams[e.stream]
		b.sorted[st.off+st.n] = e
		st.n++
	}
	for i := range b.streams {
		st := &b.streams[i]
		seg := b.sorted[st.off : st.off+st.n]
		if !slices.IsSortedFunc(seg, compareTime) {
			slices.SortStableFunc(seg, compareTime)
		}
	}
}

func compareTime(a, b entry) int {
	if c := cmp.Compare(a.sec, b.sec); c != 0 {
		return c
	}
	return cmp.Compare(a.nsec, b.nsec)
}

// appendProto appends the grouped entries as a PushRequest message.
func (b *pushBuilder) appendProto(dst []byte) []byte {
	for i := range b.streams {
		st := &b.streams[i]
		seg := b.sorted[st.off : st.off+st.n]
		size := protowire.SizeTag(fieldStreamLabels) + protowire.SizeBytes(len(st.slot.key))
		for k := range seg {
			e := &seg[k]
			e.size = protowire.SizeTag(fieldEntryTimestamp) + protowire.SizeBytes(timestampSize(e.sec, e.nsec)) +
				int(e.md1-e.md0)
			if len(e.line) > 0 {
				e.size += protowire.SizeTag(fieldEntryLine) + protowire.SizeBytes(len(e.line))
			}
			size += protowire.SizeTag(fieldStreamEntries) + protowire.SizeBytes(e.size)
		}
		dst = protowire.AppendTag(dst, fieldRequestStreams, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(size))
		dst = protowire.AppendTag(dst, fieldStreamLabels, protowire.BytesType)
		dst = protowire.AppendString(dst, st.slot.key)
		for k := range seg {
			e := &seg[k]
			dst = protowire.AppendTag(dst, fieldStreamEntries, protowire.BytesType)
			dst = protowire.AppendVarint(dst, uint64(e.size))
			dst = protowire.AppendTag(dst, fieldEntryTimestamp, protowire.BytesType)
			dst = protowire.AppendVarint(dst, uint64(timestampSize(e.sec, e.nsec)))
			if e.sec != 0 {
				dst = protowire.AppendTag(dst, fieldTimestampSeconds, protowire.VarintType)
				dst = protowire.AppendVarint(dst, uint64(e.sec))
			}
			if e.nsec != 0 {
				dst = protowire.AppendTag(dst, fieldTimestampNanos, protowire.VarintType)
				dst = protowire.AppendVarint(dst, uint64(e.nsec))
			}
			if len(e.line) > 0 {
				dst = protowire.AppendTag(dst, fieldEntryLine, protowire.BytesType)
				dst = protowire.AppendBytes(dst, e.line)
			}
			dst = append(dst, b.md[e.md0:e.md1]...)
		}
	}
	return dst
}

// timestampSize is the encoded size of a google.protobuf.Timestamp.
func timestampSize(sec int64, nsec int32) int {
	n := 0
	if sec != 0 {
		n += protowire.SizeTag(fieldTimestampSeconds) + protowire.SizeVarint(uint64(sec))
	}
	if nsec != 0 {
		n += protowire.SizeTag(fieldTimestampNanos) + protowire.SizeVarint(uint64(nsec))
	}
	return n
}

// appendJSON appends the grouped entries in the JSON push format:
//
//	{"streams":[{"stream":{"a":"x"},"values":[["<unix ns>","<line>",{"k":"v"}],...]},...]}
func (b *pushBuilder) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"streams":[`...)
	for i := range b.streams {
		st := &b.streams[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"stream":`...)
		dst = append(dst, st.slot.json...)
		dst = append(dst, `,"values":[`...)
		for k, e := range b.sorted[st.off : st.off+st.n] {
			if k > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `["`...)
			dst = strconv.AppendInt(dst, unixNano(e.sec, e.nsec), 10)
			dst = append(dst, `",`...)
			dst = jsonenc.AppendBytes(dst, e.line)
			if e.md1 > e.md0 {
				dst = append(dst, ',')
				dst = append(dst, b.md[e.md0:e.md1]...)
			}
			dst = append(dst, ']')
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}"...)
}

// unixNano is sec and nsec in nanoseconds, clamped to what int64 holds.
func unixNano(sec int64, nsec int32) int64 {
	const maxSec int64 = (1<<63 - 1) / 1_000_000_000
	switch {
	case sec > maxSec-1:
		return 1<<63 - 1
	case sec < -maxSec+1:
		return -1 << 63
	}
	return sec*1e9 + int64(nsec)
}
