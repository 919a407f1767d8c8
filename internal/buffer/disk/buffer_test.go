package disk

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/event"
)

func TestPushAcknowledgesOnceDurableAndNextDeliversInOrder(t *testing.T) {
	h := newHarness(t)
	b := h.open()
	acks := newAckLog()
	for _, n := range []string{"a", "b", "c"} {
		push(t, b, batch(n, 3, acks))
	}
	waitFor(t, "upstream acknowledgements", func() bool { return acks.count() == 3 })
	for _, n := range []string{"a", "b", "c"} {
		if ok, _ := acks.get(n); !ok {
			t.Fatalf("batch %s acknowledged as failed", n)
		}
	}
	var got []string
	for i := 0; i < 3; i++ {
		bt := next(t, b)
		if bt.Events[0].Meta != next0Meta(t, bt) {
			t.Fatal("events of a batch do not share their metadata")
		}
		got = append(got, messages(bt)...)
		bt.Ack.Release(event.Delivered)
	}
	sameStrings(t, got, append(append(names("a", 3), names("b", 3)...), names("c", 3)...))
	if s := b.Stats(); s.Events != 0 || s.Records != 0 {
		t.Fatalf("stats after acknowledging everything: %+v", s)
	}
	if got := testutil.ToFloat64(h.m.BufferEvents); got != 0 {
		t.Fatalf("buffer_events = %v after acknowledging everything", got)
	}
	nothingNext(t, b)
}

func next0Meta(t *testing.T, bt *event.Batch) *event.Meta {
	for _, e := range bt.Events[1:] {
		if e.Meta != bt.Events[0].Meta {
			t.Fatal("metadata not shared")
		}
	}
	return bt.Events[0].Meta
}

func TestRestartDeliversEverythingNotAcknowledged(t *testing.T) {
	h := newHarness(t)
	h.opt.SegmentSize = 1 << 10 // several segments
	b := h.open()
	var want []string
	for i := 0; i < 40; i++ {
		name := "r" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		push(t, b, batch(name, 5, nil))
		want = append(want, names(name, 5)...)
	}
	// The sink acknowledges the first four batches, holds two more and has
	// not taken the rest when drover stops.
	for i := 0; i < 4; i++ {
		next(t, b).Ack.Release(event.Delivered)
	}
	held := []*event.Batch{next(t, b), next(t, b)}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Releasing after Close is harmless.
	held[0].Ack.Release(event.Delivered)
	held[1].Ack.Release(event.Failed)
	if len(segmentFiles(t, h.dir)) < 3 {
		t.Fatalf("expected several segments, have %v", segmentFiles(t, h.dir))
	}

	b = h.open()
	if s := b.Stats(); s.Events != 36*5 {
		t.Fatalf("after restart the buffer holds %d events, want %d", s.Events, 36*5)
	}
	if got := testutil.ToFloat64(h.m.BufferEvents); got != 36*5 {
		t.Fatalf("buffer_events = %v, want %d", got, 36*5)
	}
	sameStrings(t, drainAll(t, b), want[4*5:])
	b.Close()

	// Everything was acknowledged: the next run starts empty and its
	// segments are gone.
	b = h.open()
	if s := b.Stats(); s.Events != 0 || s.Segments != 0 {
		t.Fatalf("after acknowledging everything: %+v, files %v", s, segmentFiles(t, h.dir))
	}
	nothingNext(t, b)
	if h.corrupt() != 0 {
		t.Fatalf("damage reported in a clean buffer:\n%s", h.log)
	}
}

func TestFailedBatchIsDeliveredAgainFirst(t *testing.T) {
	h := newHarness(t)
	b := h.open()
	push(t, b, batch("one", 2, nil))
	push(t, b, batch("two", 2, nil))
	push(t, b, batch("three", 2, nil))
	first, second := next(t, b), next(t, b)
	first.Ack.Release(event.Failed)
	second.Ack.Release(event.Delivered)
	again := next(t, b)
	sameStrings(t, messages(again), names("one", 2))
	if again.Events[0].Meta == nil || again.Events[0].Meta.Source != "src" {
		t.Fatalf("redelivered metadata %+v", again.Events[0].Meta)
	}
	third := next(t, b)
	sameStrings(t, messages(third), names("three", 2))
	third.Ack.Release(event.Rejected) // Rejected also moves past
	// The acknowledged position waits for the first batch.
	if s := b.Stats(); s.Records != 3 {
		t.Fatalf("records %d, want 3 until the first batch is acknowledged", s.Records)
	}
	again.Ack.Release(event.Delivered)
	waitFor(t, "empty buffer", func() bool { return b.Stats().Records == 0 })
}

func TestUpstreamAcknowledgementWaitsForFsync(t *testing.T) {
	h := newHarness(t)
	h.opt.FsyncInterval = time.Hour
	b := h.open()
	acks := newAckLog()
	push(t, b, batch("first", 1, acks))
	// The first write after a quiet period is synced at once.
	waitFor(t, "the first acknowledgement", func() bool { return acks.count() == 1 })
	push(t, b, batch("second", 1, acks))
	push(t, b, batch("third", 1, acks))
	// The next fsync is an hour away: nothing is acknowledged, and the
	// reader does not see the unsynced records either.
	bt := next(t, b)
	sameStrings(t, messages(bt), []string{"first-0"})
	nothingNext(t, b)
	if _, done := acks.get("second"); done {
		t.Fatal("a batch was acknowledged before an fsync covered it")
	}
	// Close syncs (group commit of both) and acknowledges.
	b.Close()
	for _, n := range []string{"second", "third"} {
		if ok, done := acks.get(n); !ok || !done {
			t.Fatalf("batch %s after Close: ok=%v done=%v", n, ok, done)
		}
	}
	b = h.open()
	sameStrings(t, drainAll(t, b), []string{"first-0", "second-0", "third-0"})
}

func TestAcknowledgedSegmentsAreDeleted(t *testing.T) {
	h := newHarness(t)
	h.opt.SegmentSize = 1 << 10
	b := h.open()
	for i := 0; i < 50; i++ {
		push(t, b, batch("s", 10, nil))
	}
	waitFor(t, "several segments", func() bool { return b.Stats().Segments > 5 })
	if len(drainAll(t, b)) != 500 {
		t.Fatal("not everything delivered")
	}
	waitFor(t, "acknowledged segments to be deleted", func() bool {
		return b.Stats().Segments <= 1 && len(segmentFiles(t, h.dir)) <= 1
	})
	if s := b.Stats(); s.DiskBytes > h.opt.SegmentSize+4<<10 {
		t.Fatalf("disk bytes %d after deleting acknowledged segments", s.DiskBytes)
	}
}

func TestWhenFullBlockWaitsForRoom(t *testing.T) {
	h := newHarness(t)
	h.opt.MaxSize = 64 << 10
	h.opt.SegmentSize = 8 << 10
	b := h.open()
	// Fill the buffer until a push waits; a cancelled wait returns the
	// context's error and admits nothing.
	fill := func() (pushed int) {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			bt := batch("f", 20, nil)
			err := b.Push(ctx, bt)
			cancel()
			bt.Ack.Release(event.Delivered)
			if err != nil {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Push into a full buffer: %v, want to wait until the deadline", err)
				}
				return pushed
			}
			pushed++
		}
	}
	pushed := fill()
	if pushed < 10 {
		t.Fatalf("only %d batches fit", pushed)
	}
	if s := b.Stats(); s.DiskBytes > h.opt.MaxSize {
		t.Fatalf("disk bytes %d exceed max_size %d", s.DiskBytes, h.opt.MaxSize)
	}
	// A blocked push proceeds once the sink acknowledged enough.
	blocked := make(chan error, 1)
	late := batch("late", 1, nil)
	go func() { blocked <- b.Push(context.Background(), late) }()
	got := drainAll(t, b)
	if err := <-blocked; err != nil {
		t.Fatalf("blocked Push: %v", err)
	}
	late.Ack.Release(event.Delivered)
	got = append(got, drainAll(t, b)...)
	if len(got) != pushed*20+1 || got[len(got)-1] != "late-0" {
		t.Fatalf("delivered %d events ending with %q, want %d ending with late-0", len(got), got[len(got)-1], pushed*20+1)
	}
	// Retire wakes a waiting Push with ErrClosed.
	fill()
	go func() { blocked <- b.Push(context.Background(), batch("x", 20, nil)) }()
	b.Retire()
	if err := <-blocked; !errors.Is(err, ErrClosed) {
		t.Fatalf("Push after Retire: %v", err)
	}
}

func TestWhenFullDropNewestCountsAndRejects(t *testing.T) {
	h := newHarness(t)
	h.opt.MaxSize = 32 << 10
	h.opt.SegmentSize = 8 << 10
	h.opt.WhenFull = DropNewest
	b := h.open()
	acks := newAckLog()
	kept := 0
	for i := 0; i < 200; i++ {
		name := "d" + strings.Repeat("x", i%3) + string(rune('A'+i%26)) + string(rune('a'+i/26))
		push(t, b, batch(name, 10, acks))
	}
	waitFor(t, "every batch acknowledged", func() bool { return acks.count() == 200 })
	for name, ok := range acks.done {
		if !ok {
			t.Fatalf("batch %s acknowledged as failed; dropped batches are rejected (ok)", name)
		}
	}
	dropped := testutil.ToFloat64(h.m.Discarded("buffer_full"))
	kept = len(drainAll(t, b))
	if dropped == 0 || kept == 0 || int(dropped)+kept != 2000 {
		t.Fatalf("dropped %v + delivered %d, want 2000 with both non-zero", dropped, kept)
	}
	if !strings.Contains(h.log.String(), "dropping new events") {
		t.Fatalf("no log about dropping:\n%s", h.log)
	}
	// Once there is room, batches are admitted again.
	waitFor(t, "room", func() bool { return b.Stats().DiskBytes < h.opt.MaxSize/2 })
	push(t, b, batch("after", 1, nil))
	sameStrings(t, drainAll(t, b), []string{"after-0"})
}

func TestBatchLargerThanMaxSizeIsAdmittedIntoAnEmptyBuffer(t *testing.T) {
	h := newHarness(t)
	h.opt.MaxSize = 16 << 10
	b := h.open()
	push(t, b, batch("huge", 2000, nil)) // about 30 KiB
	if got := len(drainAll(t, b)); got != 2000 {
		t.Fatalf("delivered %d events", got)
	}
}

func TestSecondOpenOfADirectoryFails(t *testing.T) {
	h := newHarness(t)
	h.open()
	_, err := Open(Options{Dir: h.dir, Limits: Limits{MaxSize: 1 << 20}})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: %v", err)
	}
}

func TestDamagedAckFileDeliversEverythingAgain(t *testing.T) {
	h := newHarness(t)
	b := h.open()
	push(t, b, batch("a", 2, nil))
	push(t, b, batch("b", 2, nil))
	next(t, b).Ack.Release(event.Delivered)
	b.Close()
	if err := os.WriteFile(b.dir+"/"+ackFileName, []byte("garbage"), 0o640); err != nil {
		t.Fatal(err)
	}
	b = h.open()
	sameStrings(t, drainAll(t, b), append(names("a", 2), names("b", 2)...))
	if h.corrupt() != 1 || !strings.Contains(h.log.String(), "acknowledged position is damaged") {
		t.Fatalf("damage not reported (%v):\n%s", h.corrupt(), h.log)
	}
}

func TestOldestEventAge(t *testing.T) {
	h := newHarness(t)
	b := h.open()
	push(t, b, batch("old", 1, nil))
	bt := next(t, b)
	waitFor(t, "the age gauge", func() bool { return testutil.ToFloat64(h.m.BufferAge) > 0 })
	bt.Ack.Release(event.Delivered)
	waitFor(t, "the age gauge to reset", func() bool { return testutil.ToFloat64(h.m.BufferAge) == 0 })
}

func TestNextReturnsOnCloseAndContext(t *testing.T) {
	h := newHarness(t)
	b := h.open()
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { _, err := b.Next(ctx); res <- err }()
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v", err)
	}
	go func() { _, err := b.Next(context.Background()); res <- err }()
	b.Close()
	if err := <-res; !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if err := b.Push(context.Background(), batch("x", 1, nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Push after Close: %v", err)
	}
}

func TestLargeBatchesAreSplitAndHugeEventsDiscarded(t *testing.T) {
	defer func(old int) { splitAbove = old }(splitAbove)
	splitAbove = 4 << 10
	h := newHarness(t)
	b := h.open()
	acks := newAckLog()
	bt := batch("big", 300, acks) // about 8 KiB of payload
	huge := event.Event{Message: []byte(strings.Repeat("h", 5<<10)), Meta: testMeta}
	bt.Events = append(bt.Events[:150], append([]event.Event{huge}, bt.Events[150:]...)...)
	push(t, b, bt)
	if s := b.Stats(); s.Records < 2 || s.Events != 300 {
		t.Fatalf("stats %+v, want the batch split into several records of 300 events", s)
	}
	sameStrings(t, drainAll(t, b), names("big", 300))
	waitFor(t, "the acknowledgement", func() bool { return acks.count() == 1 })
	if ok, _ := acks.get("big"); !ok {
		t.Fatal("split batch acknowledged as failed")
	}
	if got := testutil.ToFloat64(h.m.Discarded("too_large")); got != 1 {
		t.Fatalf("too_large discards = %v, want 1", got)
	}
}

func TestSetLimitsAppliesToWaitingPushes(t *testing.T) {
	h := newHarness(t)
	h.opt.MaxSize = 16 << 10
	h.opt.SegmentSize = 4 << 10
	b := h.open()
	for b.Stats().DiskBytes < h.opt.MaxSize-1<<10 {
		push(t, b, batch("f", 10, nil))
	}
	acks := newAckLog()
	waiting := batch("w", 200, acks)
	res := make(chan error, 1)
	go func() { res <- b.Push(context.Background(), waiting) }()
	select {
	case err := <-res:
		t.Fatalf("Push into a full buffer returned at once: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	b.SetLimits(Limits{MaxSize: h.opt.MaxSize, WhenFull: DropNewest})
	if err := <-res; err != nil {
		t.Fatalf("Push after switching to drop_newest: %v", err)
	}
	waiting.Ack.Release(event.Delivered)
	if ok, done := acks.get("w"); !ok || !done {
		t.Fatalf("dropped batch: ok=%v done=%v, want acknowledged", ok, done)
	}
	if got := testutil.ToFloat64(h.m.Discarded("buffer_full")); got != 200 {
		t.Fatalf("discarded %v, want 200", got)
	}
}

func TestPositionInAMissingSegmentNeverSkipsNewData(t *testing.T) {
	h := newHarness(t)
	if err := os.MkdirAll(h.dir, 0o750); err != nil {
		t.Fatal(err)
	}
	// The position points into segment 7, which is gone.
	if err := saveAck(h.dir, position{seg: 7, off: 5000}); err != nil {
		t.Fatal(err)
	}
	b := h.open()
	for i := 0; i < 100; i++ {
		push(t, b, batch("n"+strings.Repeat("x", i%2)+string(rune('A'+i%26))+string(rune('a'+i/26)), 3, nil))
	}
	if got := len(drainAll(t, b)); got != 300 {
		t.Fatalf("delivered %d events, want 300", got)
	}
	if files := segmentFiles(t, h.dir); len(files) == 0 || strings.HasSuffix(files[0], segmentName(7)) {
		t.Fatalf("new data went into %v", files)
	}
}
