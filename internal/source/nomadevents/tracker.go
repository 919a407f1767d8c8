package nomadevents

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/checkpoint"
)

// tracker moves the committed cursor over the contiguous prefix of
// acknowledged batches (see checkpoint.Tracker).
type tracker = checkpoint.Tracker[Cursor]

func newTracker(p Cursor, gauge prometheus.Gauge, onCommit func()) *tracker {
	return checkpoint.NewTracker(p, gauge, onCommit)
}
