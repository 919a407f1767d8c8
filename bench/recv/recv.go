// Package recv is the receiving end of drover's end-to-end benchmarks: an
// HTTP server on a loopback port that accepts what drover's http sink sends
// (NDJSON or a JSON array, optionally gzip-compressed) on any path but the
// Loki one, and Loki push requests (snappy-compressed protobuf, or JSON) on
// /loki/api/v1/push. It counts the lines that arrive, checks them against
// what bench/gen wrote, and records when each arrived.
//
// Every event must carry its line in "message" (the http sink's objects;
// the Loki sink's lines with encoding = "json"), or, for a JSON line that a
// parse transform made into fields, the line's header fields "ts", "sid"
// and "seq" as members of the event (see Options.ParsedMessageField). From
// the line's header (gen.ParseHeader) the receiver learns its stream,
// sequence number and write time: it counts unique lines per stream with a bitmap (so
// duplicates are seen), lines that arrive after a later line of their
// stream, and the latency from write to arrival. Optionally every event
// must carry its allocation's ID ("alloc_id":"..."), and a sample of the
// lines is decoded in full and compared byte for byte with the line the
// generator wrote.
package recv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/drover-dev/drover/bench/gen"
)

// Options configure a Receiver.
type Options struct {
	// Streams is the number of streams lines come from (sid 0..Streams-1).
	Streams int
	// AllocIDs, if not nil, holds per stream the allocation ID every event
	// of that stream must carry as "alloc_id".
	AllocIDs []string
	// CheckEvery: lines whose sequence number is a multiple of CheckEvery
	// are decoded and compared with what the generator wrote. 0: none.
	CheckEvery int
	// ParsedMessageField is, for JSON lines that arrive parsed (their
	// fields members of the event, the message no longer the line), the
	// key of the line's field that became the event's message ("msg" for
	// parse's message_field = "msg"; "" when the message is still the
	// whole line). A checked parsed event must hold every other field of
	// the line, with its value, as a member.
	ParsedMessageField string
}

// Stats is what a Receiver counted.
type Stats struct {
	// Lines is the number of distinct lines received; PerStream the same
	// per stream.
	Lines     uint64
	PerStream []uint64
	// Duplicates are lines received again.
	Duplicates uint64
	// OutOfOrder are lines that arrived after a later line of their stream.
	OutOfOrder uint64
	// Invalid are events without a message holding a generator header, or
	// of an unknown stream.
	Invalid uint64
	// WrongMeta are events without their allocation's ID.
	WrongMeta uint64
	// Checked lines were compared in full; Mismatched differed.
	Checked, Mismatched uint64
	// FirstProblem describes the first invalid, wrong or mismatched event.
	FirstProblem string
	// Requests and WireBytes (bodies as sent) and BodyBytes (decompressed).
	Requests             uint64
	WireBytes, BodyBytes int64
	// First and Last are when the first and the last request with lines
	// arrived.
	First, Last time.Time
}

// Receiver counts and checks lines. Its methods are safe for concurrent
// use.
type Receiver struct {
	o       Options
	needles [][]byte // `"alloc_id":"<id>"` per stream

	mu        sync.Mutex
	st        Stats
	seen      [][]uint64 // per stream, a bitmap of sequence numbers
	maxSeq    []uint64   // per stream, the highest sequence number + 1
	recording bool
	latencies []int64 // ns, arrival - write
}

// New returns a Receiver for o; Serve or Start make it listen.
func New(o Options) *Receiver {
	r := &Receiver{o: o, seen: make([][]uint64, o.Streams), maxSeq: make([]uint64, o.Streams)}
	r.st.PerStream = make([]uint64, o.Streams)
	for _, id := range o.AllocIDs {
		r.needles = append(r.needles, []byte(`"alloc_id":"`+id+`"`))
	}
	return r
}

// RecordLatency turns the recording of latencies on or off.
func (r *Receiver) RecordLatency(on bool) {
	r.mu.Lock()
	r.recording = on
	r.mu.Unlock()
}

// Stats returns a copy of the counts.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	s.PerStream = slices.Clone(s.PerStream)
	return s
}

// Latencies returns the given quantiles (0..1) of the recorded latencies,
// and how many were recorded; zeros when none were.
func (r *Receiver) Latencies(q ...float64) ([]time.Duration, int) {
	r.mu.Lock()
	l := slices.Clone(r.latencies)
	r.mu.Unlock()
	out := make([]time.Duration, len(q))
	if len(l) == 0 {
		return out, 0
	}
	slices.Sort(l)
	for i, v := range q {
		k := int(v*float64(len(l)-1) + 0.5)
		out[i] = time.Duration(l[max(0, min(k, len(l)-1))])
	}
	return out, len(l)
}

var (
	messageKey = []byte(`"message":"`)
	tsKey      = []byte(`,"ts":`)
	sidKey     = []byte(`,"sid":`)
	seqKey     = []byte(`,"seq":`)
)

// events counts one request's events; each is one JSON object.
func (r *Receiver) events(objs [][]byte, arrived time.Time, wire, body int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.Requests++
	r.st.WireBytes += int64(wire)
	r.st.BodyBytes += int64(body)
	if len(objs) == 0 {
		return
	}
	if r.st.First.IsZero() {
		r.st.First = arrived
	}
	r.st.Last = arrived
	now := arrived.UnixNano()
	for _, obj := range objs {
		r.event(obj, now)
	}
}

func (r *Receiver) problem(format string, args ...any) {
	if r.st.FirstProblem == "" {
		r.st.FirstProblem = fmt.Sprintf(format, args...)
	}
}

func (r *Receiver) event(obj []byte, now int64) {
	i := bytes.Index(obj, messageKey)
	if i < 0 {
		r.st.Invalid++
		r.problem("event without a message: %.200s", obj)
		return
	}
	var (
		ts         int64
		sid        int
		seq        uint64
		ok, parsed bool
	)
	// A parsed line's message is its msg, whose words may look like a
	// header: its members come first.
	if r.o.ParsedMessageField != "" {
		ts, sid, seq, ok = parsedHeader(obj)
		parsed = ok
	}
	if !ok {
		ts, sid, seq, ok = gen.ParseHeader(obj[i+len(messageKey):])
	}
	if !ok || sid < 0 || sid >= r.o.Streams {
		r.st.Invalid++
		r.problem("message without a generator header: %.200s", obj)
		return
	}
	if r.needles != nil && !bytes.Contains(obj, r.needles[sid]) {
		r.st.WrongMeta++
		r.problem("event of stream %d without %s: %.300s", sid, r.needles[sid], obj)
	}
	bits := r.seen[sid]
	w := int(seq / 64)
	if w >= len(bits) {
		bits = append(bits, make([]uint64, w+1-len(bits)+len(bits)/2)...)
		r.seen[sid] = bits
	}
	if bits[w]&(1<<(seq%64)) != 0 {
		r.st.Duplicates++
		return
	}
	bits[w] |= 1 << (seq % 64)
	r.st.Lines++
	r.st.PerStream[sid]++
	if seq+1 < r.maxSeq[sid] {
		r.st.OutOfOrder++
	}
	r.maxSeq[sid] = max(r.maxSeq[sid], seq+1)
	if r.recording {
		r.latencies = append(r.latencies, now-ts)
	}
	if r.o.CheckEvery > 0 && seq%uint64(r.o.CheckEvery) == 0 {
		if parsed {
			r.checkParsed(obj, sid, seq, ts)
		} else {
			r.check(obj, sid, seq, ts)
		}
	}
}

// parsedHeader reads a line's header from the members "ts", "sid" and
// "seq" of an event (a JSON line parsed into fields). A JSON string holds
// no unescaped quote, so `,"sid":` cannot match inside one; the first
// match is taken, which is the top-level member unless an object nested
// before it has the same key (the generator's lines have none).
func parsedHeader(obj []byte) (ts int64, sid int, seq uint64, ok bool) {
	var nums [3]uint64
	for k, key := range [][]byte{tsKey, sidKey, seqKey} {
		i := bytes.Index(obj, key)
		if i < 0 {
			return 0, 0, 0, false
		}
		b := obj[i+len(key):]
		j := 0
		for j < len(b) && b[j] >= '0' && b[j] <= '9' && j < 20 {
			nums[k] = nums[k]*10 + uint64(b[j]-'0')
			j++
		}
		if j == 0 {
			return 0, 0, 0, false
		}
	}
	return int64(nums[0]), int(nums[1]), nums[2], true
}

// checkParsed compares a parsed event with the JSON line the generator
// wrote: every field of the line must be a member of the event with the
// same value, but ParsedMessageField, which must be the message.
func (r *Receiver) checkParsed(obj []byte, sid int, seq uint64, ts int64) {
	r.st.Checked++
	got, err := decodeNumbers(obj)
	if err != nil {
		r.st.Mismatched++
		r.problem("stream %d line %d: event is not valid JSON: %v", sid, seq, err)
		return
	}
	line := gen.AppendLine(nil, sid, seq, ts)
	want, err := decodeNumbers(line)
	if err != nil {
		r.st.Mismatched++
		r.problem("stream %d line %d: arrived parsed, but the line written is not JSON: %q", sid, seq, line)
		return
	}
	for k, w := range want {
		key := k
		if k == r.o.ParsedMessageField {
			key = "message"
		}
		if g, ok := got[key]; !ok || !reflect.DeepEqual(g, w) {
			r.st.Mismatched++
			r.problem("stream %d line %d: field %q is %v (present: %t), want %v, of line %q", sid, seq, key, g, ok, w, line)
			return
		}
	}
}

// decodeNumbers decodes a JSON object, numbers as written.
func decodeNumbers(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	err := d.Decode(&m)
	return m, err
}

// check compares an event's message with the line the generator wrote.
func (r *Receiver) check(obj []byte, sid int, seq uint64, ts int64) {
	r.st.Checked++
	var ev struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(obj, &ev); err != nil {
		r.st.Mismatched++
		r.problem("stream %d line %d: event is not valid JSON: %v", sid, seq, err)
		return
	}
	if want := gen.AppendLine(nil, sid, seq, ts); ev.Message != string(want) {
		r.st.Mismatched++
		r.problem("stream %d line %d: got message %q, want %q", sid, seq, ev.Message, want)
	}
}
