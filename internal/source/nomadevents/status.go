package nomadevents

import (
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover/internal/status"
)

// streamStatus is what Describe reads from other goroutines.
type streamStatus struct {
	tracker  atomic.Pointer[tracker]
	readIdx  atomic.Uint64 // index of the newest event emitted
	readTime atomic.Int64  // UnixNano of when it was received
}

// read notes the newest event emitted.
func (s *streamStatus) read(index uint64, at time.Time) {
	s.readIdx.Store(index)
	s.readTime.Store(at.UnixNano())
}

// StreamStatus is the event stream's position, as the status page shows
// it.
type StreamStatus struct {
	// Committed is the cursor every sink acknowledged (what is saved).
	Committed Cursor `json:"committed"`
	// ReadIndex is the index of the newest event read; LastRead when it
	// was received (zero before the first).
	ReadIndex uint64    `json:"read_index"`
	LastRead  time.Time `json:"last_read,omitzero"`
	// LagIndexes is ReadIndex - Committed.Index: how far delivery trails
	// reading, in Raft indexes.
	LagIndexes uint64 `json:"lag_indexes"`
	// InFlight is the number of batches emitted and not yet acknowledged.
	InFlight int `json:"in_flight_batches"`
}

// Describe shows the stream's cursor and lag (status.Describer).
func (s *Source) Describe() status.Description {
	st := StreamStatus{ReadIndex: s.st.readIdx.Load()}
	if ns := s.st.readTime.Load(); ns != 0 {
		st.LastRead = time.Unix(0, ns).UTC()
	}
	if t := s.st.tracker.Load(); t != nil {
		st.Committed = t.Snapshot()
		st.InFlight = t.PendingBatches()
	}
	if st.ReadIndex > st.Committed.Index {
		st.LagIndexes = st.ReadIndex - st.Committed.Index
	}
	return status.Description{Detail: st}
}
