package disk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
)

// A segment that cannot be created fails the batches written into it
// (their sources read them again), holds the buffer condition failing and
// logs the run once; the next write that works ends it.
func TestWriteFailuresAreReportedUntilWritingWorks(t *testing.T) {
	h := newHarness(t)
	rep := health.NewReporter("sink", "test", "out", nil)
	h.opt.Health = rep
	// Directories where the next segments would be created: creating
	// them fails whoever runs the test.
	var blocked []string
	for id := uint64(1); id <= 8; id++ {
		p := filepath.Join(h.dir, segmentName(id))
		if err := os.MkdirAll(filepath.Join(p, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		blocked = append(blocked, p)
	}
	b := h.open()
	acks := newAckLog()
	push(t, b, batch("a", 2, acks))
	waitFor(t, "a released", func() bool { return acks.count() == 1 })
	push(t, b, batch("b", 2, acks))
	waitFor(t, "b released", func() bool { return acks.count() == 2 })
	for _, n := range []string{"a", "b"} {
		if ok, _ := acks.get(n); ok {
			t.Fatalf("batch %s acknowledged although it was never written", n)
		}
	}
	c, ok := rep.Condition(health.ConditionBuffer)
	if !ok || c.State != health.Failing || c.Reason != "write_failed" || !strings.Contains(c.Message, "creating disk buffer segment") {
		t.Fatalf("health while writes fail: %+v", rep.Conditions())
	}
	if got := testutil.ToFloat64(h.m.Errors("buffer_write")); got < 2 {
		t.Fatalf("buffer_write errors = %v, want one per failed write", got)
	}
	if n := strings.Count(h.log.String(), "disk buffer: write failed"); n != 1 {
		t.Fatalf("the run of write failures was logged %d times at its level, want once:\n%s", n, h.log)
	}
	if got := b.Stats(); got.Records != 0 || got.Events != 0 {
		t.Fatalf("stats after the failed writes: %+v", got)
	}

	for _, p := range blocked {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
	push(t, b, batch("c", 2, acks))
	waitFor(t, "c acknowledged", func() bool { ok, done := acks.get("c"); return ok && done })
	if _, ok := rep.Condition(health.ConditionBuffer); ok || rep.State() != health.OK {
		t.Fatalf("health after a write that worked: %+v", rep.Conditions())
	}
	if !strings.Contains(h.log.String(), "disk buffer: writing works again") {
		t.Fatalf("the recovery was not logged:\n%s", h.log)
	}
	bt := next(t, b)
	sameStrings(t, messages(bt), names("c", 2))
	bt.Ack.Release(event.Delivered)
}

// A position that cannot be saved keeps the delivered segments, holds the
// buffer_position condition degraded, and is saved once it can be.
func TestPositionSaveFailuresAreReportedUntilSaved(t *testing.T) {
	h := newHarness(t)
	rep := health.NewReporter("sink", "test", "out", nil)
	h.opt.Health = rep
	b := h.open()
	// A non-empty directory where the position file goes: replacing it
	// fails whoever runs the test.
	ack := filepath.Join(h.dir, ackFileName)
	if err := os.RemoveAll(ack); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(ack, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	push(t, b, batch("a", 2, nil))
	bt := next(t, b)
	bt.Ack.Release(event.Delivered)
	waitFor(t, "the position save failing", func() bool {
		c, ok := rep.Condition(health.ConditionBufferPosition)
		return ok && c.State == health.Degraded && c.Reason == "ack_save_failed"
	})
	if rep.State() != health.Degraded {
		t.Fatalf("state %v while only the position cannot be saved, want degraded", rep.State())
	}
	if err := os.RemoveAll(ack); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the position saved", func() bool {
		_, ok := rep.Condition(health.ConditionBufferPosition)
		return !ok
	})
	p, found, err := loadAck(h.dir)
	if err != nil || !found || p.off == 0 {
		t.Fatalf("saved position %v found %v: %v", p, found, err)
	}
	waitFor(t, "the recovery logged", func() bool {
		return strings.Contains(h.log.String(), "saving the acknowledged position works again")
	})
}
