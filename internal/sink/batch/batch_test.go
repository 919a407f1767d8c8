package batch

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
)

// ackLog records how each source batch's Ack was released.
type ackLog struct {
	calls []bool
}

func (l *ackLog) batch(n int, msgPrefix string) *event.Batch {
	b := &event.Batch{Ack: event.NewAck(func(ok bool) { l.calls = append(l.calls, ok) })}
	for i := 0; i < n; i++ {
		b.Events = append(b.Events, event.Event{Timestamp: time.Unix(1, 0), Message: fmt.Appendf(nil, "%s%d", msgPrefix, i)})
	}
	return b
}

func messages(r *Request) []string {
	var out []string
	for _, e := range r.Events() {
		out = append(out, string(e.Message))
	}
	return out
}

func TestBuilderMaxEventsSplitsAndMerges(t *testing.T) {
	var log ackLog
	b := NewBuilder(Config{MaxEvents: 3, MaxBytes: 1 << 20}, nil)
	b1, b2 := log.batch(2, "a"), log.batch(4, "b")
	t1, t2 := Track(b1), Track(b2)
	if n := b.Add(t1, b1.Events); n != 2 || b.Full() {
		t.Fatalf("Add took %d, full=%v", n, b.Full())
	}
	if n := b.Add(t2, b2.Events); n != 1 || !b.Full() {
		t.Fatalf("Add took %d of the second batch, full=%v", n, b.Full())
	}
	r1 := b.Take()
	if got := strings.Join(messages(r1), ","); got != "a0,a1,b0" {
		t.Fatalf("first request = %s", got)
	}
	if n := b.Add(t2, b2.Events[1:]); n != 3 {
		t.Fatalf("second request took %d", n)
	}
	r2 := b.Take()
	if got := strings.Join(messages(r2), ","); got != "b1,b2,b3" {
		t.Fatalf("second request = %s", got)
	}
	r2.Finish(event.Delivered)
	if len(log.calls) != 0 {
		t.Fatalf("acks released before every event had a verdict: %v", log.calls)
	}
	r1.Finish(event.Delivered)
	if fmt.Sprint(log.calls) != "[true true]" {
		t.Fatalf("acks = %v", log.calls)
	}
}

func TestBuilderMaxBytesWithEncoder(t *testing.T) {
	var log ackLog
	enc := codec.Lines{Encoding: codec.Text}
	// Each event "m0".."m9" encodes to 3 bytes with its newline.
	b := NewBuilder(Config{MaxEvents: 100, MaxBytes: 7}, enc)
	src := log.batch(5, "m")
	tk := Track(src)
	var reqs []*Request
	for rest := src.Events; len(rest) > 0; {
		n := b.Add(tk, rest)
		rest = rest[n:]
		if !b.Full() && len(rest) > 0 {
			t.Fatal("builder took fewer events without being full")
		}
		reqs = append(reqs, b.Take())
	}
	var bodies []string
	for _, r := range reqs {
		if r.Size() != len(r.Body) || r.Size() > 7 {
			t.Fatalf("request size %d, body %q", r.Size(), r.Body)
		}
		bodies = append(bodies, string(r.Body))
		for i := range r.Len() {
			if want := fmt.Sprintf("%s\n", messages(r)[i]); string(r.Encoded(i)) != want {
				t.Fatalf("Encoded(%d) = %q, want %q", i, r.Encoded(i), want)
			}
		}
	}
	if got := string(reqs[0].EncodedRange(0, 2)); got != "m0\nm1\n" {
		t.Fatalf("EncodedRange(0, 2) = %q", got)
	}
	if got := string(reqs[1].EncodedRange(1, 2)); got != "m3\n" {
		t.Fatalf("EncodedRange(1, 2) = %q", got)
	}
	if reqs[0].EncodedRange(1, 1) != nil {
		t.Fatal("empty range not nil")
	}
	if got := fmt.Sprintf("%q", bodies); got != `["m0\nm1\n" "m2\nm3\n" "m4\n"]` {
		t.Fatalf("bodies = %s", got)
	}
	for _, r := range reqs {
		r.Finish(event.Delivered)
	}
	if fmt.Sprint(log.calls) != "[true]" {
		t.Fatalf("acks = %v", log.calls)
	}
}

func TestBuilderOversizedEventGoesAlone(t *testing.T) {
	var log ackLog
	b := NewBuilder(Config{MaxEvents: 10, MaxBytes: 4}, nil)
	src := &event.Batch{Ack: event.NewAck(func(ok bool) { log.calls = append(log.calls, ok) }), Events: []event.Event{
		{Message: []byte("ab")}, {Message: []byte("0123456789")}, {Message: []byte("c")},
	}}
	tk := Track(src)
	var sizes []int
	for rest := src.Events; len(rest) > 0; {
		rest = rest[b.Add(tk, rest):]
		r := b.Take()
		sizes = append(sizes, r.Size())
		r.Finish(event.Delivered)
	}
	if fmt.Sprint(sizes) != "[2 10 1]" {
		t.Fatalf("request sizes = %v", sizes)
	}
	if fmt.Sprint(log.calls) != "[true]" {
		t.Fatalf("acks = %v", log.calls)
	}
}

func TestTicketStatus(t *testing.T) {
	cases := []struct {
		statuses []event.Status
		want     event.Status
		ok       bool
	}{
		{[]event.Status{event.Delivered, event.Delivered}, event.Delivered, true},
		{[]event.Status{event.Delivered, event.Rejected}, event.Rejected, true},
		{[]event.Status{event.Rejected, event.Failed, event.Delivered}, event.Failed, false},
	}
	for _, c := range cases {
		var log ackLog
		src := log.batch(len(c.statuses), "x")
		tk := Track(src)
		for _, s := range c.statuses {
			tk.Done(1, s)
		}
		if got := bySeverity[tk.worst.Load()]; got != c.want || fmt.Sprint(log.calls) != fmt.Sprintf("[%v]", c.ok) {
			t.Errorf("%v: status %v, acks %v", c.statuses, got, log.calls)
		}
	}
}

func TestTrackEmptyBatchReleasesAtOnce(t *testing.T) {
	var log ackLog
	Track(log.batch(0, ""))
	if fmt.Sprint(log.calls) != "[true]" {
		t.Fatalf("acks = %v", log.calls)
	}
}

func TestTicketPanicsOnTooManyVerdicts(t *testing.T) {
	var log ackLog
	tk := Track(log.batch(1, "x"))
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a second verdict")
		}
	}()
	tk.Done(1, event.Delivered)
	tk.Done(1, event.Delivered)
}

func TestResolve(t *testing.T) {
	var log ackLog
	b := NewBuilder(DefaultConfig(), codec.Array{})
	b1, b2 := log.batch(3, "a"), log.batch(2, "b")
	b.Add(Track(b1), b1.Events)
	b.Add(Track(b2), b2.Events)
	r := b.Take()
	// a0 ok, a1 retry, a2 retry, b0 refused, b1 retry
	res := r.Resolve([]Outcome{Accepted, Retry, Retry, Refused, Retry}, codec.Array{})
	if res.Accepted != 1 || res.Refused.Len() != 1 || res.Split != nil {
		t.Fatalf("resolution %+v", res)
	}
	if got := strings.Join(messages(res.Refused), ","); got != "b0" {
		t.Fatalf("refused = %s", got)
	}
	next := res.Retry
	if got := strings.Join(messages(next), ","); got != "a1,a2,b1" {
		t.Fatalf("retry request = %s", got)
	}
	var arr []map[string]any
	if err := json.Unmarshal(next.Body, &arr); err != nil || len(arr) != 3 || arr[2]["message"] != "b1" {
		t.Fatalf("retry body %s: %v", next.Body, err)
	}
	if next.Size() != len(next.Body) {
		t.Fatalf("size %d != body %d", next.Size(), len(next.Body))
	}
	if len(log.calls) != 0 {
		t.Fatalf("acks released early: %v", log.calls)
	}
	last := next.Resolve([]Outcome{Accepted, Accepted, Accepted}, codec.Array{})
	if last.Retry != nil || last.Refused != nil || last.Accepted != 3 {
		t.Fatalf("second Resolve = %+v", last)
	}
	// The refused event is not released until its request is finished.
	if fmt.Sprint(log.calls) != "[true]" {
		t.Fatalf("acks = %v", log.calls)
	}
	res.Refused.Finish(event.Rejected)
	if fmt.Sprint(log.calls) != "[true true]" {
		t.Fatalf("acks = %v", log.calls)
	}
}

func TestResolveSplitAndHalve(t *testing.T) {
	var log ackLog
	enc := codec.Lines{}
	b := NewBuilder(DefaultConfig(), enc)
	b1, b2 := log.batch(3, "a"), log.batch(4, "b")
	b.Add(Track(b1), b1.Events)
	b.Add(Track(b2), b2.Events)
	r := b.Take()
	res := r.Resolve([]Outcome{Split, Split, Accepted, Split, Split, Split, Retry}, enc)
	if res.Accepted != 1 || res.Retry.Len() != 1 || res.Split.Len() != 5 || res.Refused != nil {
		t.Fatalf("resolution %+v", res)
	}
	if got := strings.Join(messages(res.Split), ","); got != "a0,a1,b0,b1,b2" {
		t.Fatalf("split = %s", got)
	}
	x, y := res.Split.Halve(enc)
	if got := strings.Join(messages(x), ","); got != "a0,a1" {
		t.Fatalf("first half = %s", got)
	}
	if got := strings.Join(messages(y), ","); got != "b0,b1,b2" {
		t.Fatalf("second half = %s", got)
	}
	if x.Size() != len(x.Body) || !strings.HasPrefix(string(x.Body), `{"timestamp"`) || strings.Count(string(y.Body), "\n") != 3 {
		t.Fatalf("halves not encoded: %q %q", x.Body, y.Body)
	}
	y1, y2 := y.Halve(enc)
	if y1.Len() != 1 || y2.Len() != 2 {
		t.Fatalf("halves of 3: %d, %d", y1.Len(), y2.Len())
	}
	x.Finish(event.Delivered) // the last events of batch a
	if fmt.Sprint(log.calls) != "[true]" {
		t.Fatalf("acks = %v", log.calls)
	}
	res.Retry.Finish(event.Delivered)
	y1.Finish(event.Delivered)
	y2.Finish(event.Rejected)
	if fmt.Sprint(log.calls) != "[true true]" {
		t.Fatalf("acks = %v", log.calls)
	}
}

func TestBuilderFinishReleasesOpenRequest(t *testing.T) {
	var log ackLog
	b := NewBuilder(DefaultConfig(), nil)
	src := log.batch(4, "x")
	tk := Track(src)
	b.Add(tk, src.Events[:2])
	b.Finish(event.Failed)
	if b.Len() != 0 {
		t.Fatal("open request not reset")
	}
	tk.Done(2, event.Delivered)
	if fmt.Sprint(log.calls) != "[false]" {
		t.Fatalf("acks = %v", log.calls)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]Config{
		"max_events": {MaxEvents: 0, MaxBytes: 1, Timeout: time.Second},
		"max_bytes":  {MaxEvents: 1, MaxBytes: 0},
		"timeout":    {MaxEvents: 1, MaxBytes: 1, Timeout: -1},
	}
	for field, c := range cases {
		err := c.Validate()
		fe, ok := err.(*config.FieldError)
		if !ok || fe.Field != field {
			t.Errorf("Validate(%+v) = %v, want error on %s", c, err, field)
		}
	}
	if err := (Config{MaxEvents: 1, MaxBytes: 1 << 40}).Validate(); err == nil {
		t.Error("1TiB max_bytes accepted")
	}
}

func TestBuilderSteadyStateDoesNotAllocatePerEvent(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	meta := event.NewMeta("s", event.NewFields(event.Field{Key: "host", Value: event.StringValue("h")}))
	src := &event.Batch{Events: make([]event.Event, 500)}
	for i := range src.Events {
		src.Events[i] = event.Event{Timestamp: time.Unix(1, 0), Message: []byte("a typical log line of moderate length"), Meta: meta}
	}
	b := NewBuilder(Config{MaxEvents: 1000, MaxBytes: 1 << 20}, codec.Lines{})
	run := func() {
		src.Ack = event.NewAck(nil)
		tk := Track(src)
		b.Add(tk, src.Events)
		b.Take().Finish(event.Delivered)
	}
	run()
	// One batch costs a Ticket and an Ack (made by the test as a source
	// would); the 500 events add nothing.
	if n := testing.AllocsPerRun(50, run); n > 4 {
		t.Fatalf("%v allocations per batch of 500 events", n)
	}
}

func BenchmarkBuilder(b *testing.B) {
	meta := event.NewMeta("s", event.NewFields(
		event.Field{Key: "host", Value: event.StringValue("node-1")},
		event.Field{Key: "file", Value: event.StringValue("/opt/nomad/data/alloc/x/alloc/logs/web.stdout.0")},
	))
	src := &event.Batch{Events: make([]event.Event, 1000)}
	for i := range src.Events {
		src.Events[i] = event.Event{Timestamp: time.Unix(1, 0), Message: []byte("2024-05-06T07:08:09Z INFO request done status=200"), Meta: meta}
	}
	for _, enc := range []struct {
		name string
		enc  Encoder
	}{{"ndjson", codec.Lines{}}, {"array", codec.Array{}}} {
		b.Run(enc.name, func(b *testing.B) {
			bl := NewBuilder(Config{MaxEvents: 1000, MaxBytes: 1 << 20}, enc.enc)
			b.ReportAllocs()
			for b.Loop() {
				src.Ack = nil
				tk := Track(src)
				bl.Add(tk, src.Events)
				bl.Take().Finish(event.Delivered)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(src.Events)), "ns/event")
		})
	}
}
