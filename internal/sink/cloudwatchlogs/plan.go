package cloudwatchlogs

import (
	"slices"
	"time"

	"github.com/drover-dev/drover/internal/sink/batch"
)

// The service's time window for the events of a request, relative to its
// clock.
const (
	// MaxAge is how old an event may be.
	MaxAge = 14 * 24 * time.Hour
	// MaxAhead is how far in the future an event may be.
	MaxAhead = 2 * time.Hour
	// MaxSpan is how much time the events of one request may span.
	MaxSpan = 24 * time.Hour
)

// Discard reasons of events the sink or the service refuses one by one.
const (
	ReasonTooOld       = "too_old"
	ReasonTooNew       = "too_new"
	ReasonExpired      = "expired"
	ReasonEmptyMessage = "empty_message"
	// ReasonMissingField: the group or stream template names a field the
	// event does not have.
	ReasonMissingField = "missing_field"
)

// item is one event of a call: its index in the request and its decoded
// form.
type item struct {
	i int
	decoded
}

// plan turns the events of one target into calls: events outside the time
// window at now, and empty messages (the service refuses a whole request
// for one), are refused in res; the others are sorted by time (stably) and
// cut into calls whose events span at most MaxSpan.
func plan(req *batch.Request, idx []int, now time.Time, res *result) [][]item {
	oldest := now.Add(-MaxAge).UnixMilli()
	newest := now.Add(MaxAhead).UnixMilli()
	items := make([]item, 0, len(idx))
	for _, i := range idx {
		d := decode(req.Encoded(i))
		switch {
		case len(d.message) == 0:
			res.refuseOne(i, ReasonEmptyMessage)
		case d.timestamp < oldest:
			res.refuseOne(i, ReasonTooOld)
		case d.timestamp > newest:
			res.refuseOne(i, ReasonTooNew)
		default:
			items = append(items, item{i: i, decoded: d})
		}
	}
	slices.SortStableFunc(items, func(a, b item) int {
		switch {
		case a.timestamp < b.timestamp:
			return -1
		case a.timestamp > b.timestamp:
			return 1
		}
		return 0
	})
	var calls [][]item
	span := MaxSpan.Milliseconds()
	for start := 0; start < len(items); {
		end := start + 1
		for end < len(items) && items[end].timestamp-items[start].timestamp <= span {
			end++
		}
		calls = append(calls, items[start:end])
		start = end
	}
	return calls
}
