package cloudwatchlogs

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// result collects the verdict of every event of one request.
type result struct {
	outcomes []batch.Outcome
	reasons  []string
	errs     []error
	byReason map[string]int // events refused one by one, by reason
}

// newResult returns a result for n events, all to be retried until
// decided otherwise.
func newResult(n int) *result {
	r := &result{outcomes: make([]batch.Outcome, n), reasons: make([]string, n)}
	for i := range r.outcomes {
		r.outcomes[i] = batch.Retry
	}
	return r
}

func (r *result) accept(i int) { r.outcomes[i] = batch.Accepted }

func (r *result) retry(i int) { r.outcomes[i] = batch.Retry }

// refuse refuses event i for good; reason "" counts it as "rejected".
func (r *result) refuse(i int, reason string) {
	r.outcomes[i] = batch.Refused
	r.reasons[i] = reason
	if reason != "" {
		if r.byReason == nil {
			r.byReason = map[string]int{}
		}
		r.byReason[reason]++
	}
}

// fail records an error for the log.
func (r *result) fail(err error) { r.errs = append(r.errs, err) }

// err is what Send returns: nil when every event was accepted; the
// error when every event is to be retried; retry.Permanent when every
// event was refused without a reason of its own; otherwise a
// *retry.PartialError with each event's outcome and reason.
func (r *result) err() error {
	var accepted, refused, reasoned int
	for i, o := range r.outcomes {
		switch o {
		case batch.Accepted:
			accepted++
		case batch.Refused:
			refused++
			if r.reasons[i] != "" {
				reasoned++
			}
		}
	}
	n := len(r.outcomes)
	errs := r.errs
	if len(r.byReason) > 0 {
		errs = append(errs, r.reasonError())
	}
	var joined error
	switch len(errs) {
	case 0:
	case 1:
		joined = errs[0]
	default:
		joined = errors.Join(errs...)
	}
	switch {
	case accepted == n:
		return nil
	case accepted == 0 && refused == 0:
		if joined == nil {
			joined = errors.New("no verdict")
		}
		return joined
	case refused == n && reasoned == 0:
		return retry.Permanent(joined)
	}
	return &retry.PartialError{Outcomes: r.outcomes, Reasons: r.reasons, Err: joined}
}

// reasonError describes the events refused one by one.
func (r *result) reasonError() error {
	keys := make([]string, 0, len(r.byReason))
	for k := range r.byReason {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, r.byReason[k])
	}
	return fmt.Errorf("events outside what CloudWatch Logs takes (older than 14 days or the group's retention, more than 2 hours ahead, or empty): %s",
		strings.Join(parts, ", "))
}
