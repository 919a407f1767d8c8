package journald

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/checkpoint"
)

// position is a place in the journal: after the entry named by Cursor,
// whose __REALTIME_TIMESTAMP is Realtime (microseconds). The zero position
// is "nothing read yet".
type position struct {
	Cursor   string `json:"cursor"`
	Realtime int64  `json:"realtime_usec,omitempty"`
}

// tracker moves the committed position over the contiguous prefix of
// acknowledged batches (see checkpoint.Tracker).
type tracker = checkpoint.Tracker[position]

func newTracker(p position, gauge prometheus.Gauge, onCommit func()) *tracker {
	return checkpoint.NewTracker(p, gauge, onCommit)
}
