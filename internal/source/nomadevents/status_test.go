package nomadevents

import (
	"testing"

	"github.com/drover-dev/drover/internal/nomadtest/eventstream"
)

// Describe shows what the status page shows of the event stream: the
// newest index read, the acknowledged cursor, the lag between them in
// Raft indexes and the batches in flight; the lag closes as the sink
// acknowledges.
func TestDescribeShowsCursorAndLag(t *testing.T) {
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	items := eventstream.History()[:6] // indexes 8 9 10 12 12 13
	srv.Publish(items...)
	sk := &sink{hold: true}
	h := start(t, srv, t.TempDir(), testConfig(srv), sk)
	waitUntil(t, "six batches", func() bool { return sk.count() == len(identities(items)) })
	st := h.src.Describe().Detail.(StreamStatus)
	if st.ReadIndex != 13 || st.Committed.Index != 0 || st.LagIndexes != 13 || st.InFlight != 6 || st.LastRead.IsZero() {
		t.Fatalf("while the sink holds every batch: %+v", st)
	}
	sk.releaseHeld(func(i int) bool { return i == 0 })
	waitUntil(t, "the cursor moved", func() bool {
		st = h.src.Describe().Detail.(StreamStatus)
		return st.Committed.Index > 0
	})
	if st.Committed.Index != 8 || st.LagIndexes != 5 || st.InFlight != 5 {
		t.Fatalf("after the first batch: %+v", st)
	}
	sk.releaseHeld(func(int) bool { return true })
	waitUntil(t, "no lag", func() bool {
		st = h.src.Describe().Detail.(StreamStatus)
		return st.Committed.Index == 13 && st.LagIndexes == 0 && st.InFlight == 0
	})
}
