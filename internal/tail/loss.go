package tail

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/metrics"
)

// Reasons of lost files, the "reason" label of drover_files_lost_total.
const (
	// LostPurged: files deleted before the source could open them (a
	// rotation deleted them while drover was down or far behind, or they
	// were created and deleted between two looks of the source).
	LostPurged = "purged"
	// LostDeletedUnread: files deleted while the source held them open,
	// not read to their end when it stopped: only its descriptor kept
	// them.
	LostDeletedUnread = "deleted_unread"
	// LostWrittenWhileParked: files closed to stay within max_open_files,
	// written, and deleted before the source could open them again: what
	// was written since they were closed.
	LostWrittenWhileParked = "written_while_parked"
	// LostGoneWhileDown: a stream whose files were deleted while drover was
	// not running (an allocation garbage-collected), and whose saved
	// position was not at their end: the lines after it. Counted once per
	// stream.
	LostGoneWhileDown = "gone_while_down"
)

// Losses counts the files a source lost lines of, by reason:
//
//	drover_files_lost_total{reason}
//
// Every loss is also logged once by the source, with the files.
type Losses struct {
	vec *prometheus.CounterVec // curried with the component labels
}

// NewLosses registers the source's loss counter.
func NewLosses(m *metrics.Component) (*Losses, error) {
	names := []string{"component_kind", "component_type", "component_id", "reason"}
	v, err := metrics.RegisterOrReuse(m.Registerer(), prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "drover", Name: "files_lost_total",
		Help: "Files whose lines were lost in whole or in part, by reason: purged (deleted before they could be opened), deleted_unread (deleted while held open, not read to their end when the source stopped), written_while_parked (written and deleted while closed for max_open_files), gone_while_down (a stream deleted while drover was not running, its position not at its end; one per stream).",
	}, names))
	if err != nil {
		return nil, fmt.Errorf("registering drover_files_lost_total: %w", err)
	}
	return &Losses{vec: v.MustCurryWith(m.Labels())}, nil
}

// Add counts n files lost for reason.
func (l *Losses) Add(reason string, n uint64) {
	l.vec.WithLabelValues(reason).Add(float64(n))
}

// Counter is the counter of one reason, for tests and readers.
func (l *Losses) Counter(reason string) prometheus.Counter {
	return l.vec.WithLabelValues(reason)
}
