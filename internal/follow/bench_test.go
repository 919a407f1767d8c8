package follow

import (
	"testing"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/tail"
)

// BenchmarkCommit measures the acknowledgement of one batch of a file, the
// path that moves its committed position and runs its OnCommit hook: with
// the checkpoint mark alone (what the hook was) and with the chain's
// commit hook, which also stores the time of the acknowledgement.
func BenchmarkCommit(b *testing.B) {
	flusher := checkpoint.NewFlusher(0, func() error { return nil }, nil, nil)
	for _, bc := range []struct {
		name string
		hook func() func()
	}{
		{"mark", func() func() { return flusher.Mark }},
		{"mark+time", func() func() {
			h := &commitHook{c: &chain{}, mark: flusher.Mark}
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
