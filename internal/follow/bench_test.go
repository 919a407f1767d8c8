package follow

import (
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/tail"
)

// BenchmarkCommit measures the acknowledgement of one batch of a file, the
// path that moves its committed position and runs its OnCommit hook: with
// the checkpoint mark alone (what the hook was) and with the chain's
// commit hook, which also stores the time of the acknowledgement (the
// follower's clock).
func BenchmarkCommit(b *testing.B) {
	flusher := checkpoint.NewFlusher(0, func() error { return nil }, nil, nil)
	for _, bc := range []struct {
		name string
		hook func() func()
	}{
		{"mark", func() func() { return flusher.Mark }},
		{"hook", func() func() {
			var b statusBoard
			b.tick(time.Now())
			h := &commitHook{c: &chain{}, mark: flusher.Mark, clock: &b.clock}
			h.armed.Store(true)
			return h.run
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := tail.NewProgress(tail.Fingerprint{}, 0, checkpoint.NewInflight(nil), bc.hook())
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ack := p.Add(int64(i+1) * 100)
				ack.Release(event.Delivered)
			}
		})
	}
}

// BenchmarkCommitHookAlone measures the OnCommit hook by itself, without
// the acknowledgement around it: the checkpoint mark alone, the chain's
// hook (mark, a load of the follower's clock and a store), and what a
// clock read per acknowledgement would cost instead.
func BenchmarkCommitHookAlone(b *testing.B) {
	flusher := checkpoint.NewFlusher(0, func() error { return nil }, nil, nil)
	var board statusBoard
	board.tick(time.Now())
	h := &commitHook{c: &chain{}, mark: flusher.Mark, clock: &board.clock}
	h.armed.Store(true)
	c := &chain{}
	for _, bc := range []struct {
		name string
		run  func()
	}{
		{"mark", flusher.Mark},
		{"hook", h.run},
		{"mark+clock_read", func() { flusher.Mark(); c.ackedAt.Store(time.Now().UnixNano()) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.run()
			}
		})
	}
}
