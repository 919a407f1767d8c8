package cloudwatchlogs

import (
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

func (r *result) split(i int) { r.outcomes[i] = batch.Split }

// refuse refuses event i for good with reason.
func (r *result) refuse(i int, reason string) {
	r.outcomes[i] = batch.Refused
	r.reasons[i] = reason
}

// refuseOne refuses event i for good with a reason of the service's
// per-event verdicts (too old, too new, expired), which are counted for
// the log.
func (r *result) refuseOne(i int, reason string) {
	r.refuse(i, reason)
	if r.byReason == nil {
		r.byReason = map[string]int{}
	}
	r.byReason[reason]++
}

// fail records an error for the log.
func (r *result) fail(err error) { r.errs = append(r.errs, err) }

// err is what Send returns: see retry.Result.
func (r *result) err() error {
	errs := r.errs
	if len(r.byReason) > 0 {
		errs = append(errs, r.reasonError())
	}
	return retry.Result(r.outcomes, r.reasons, errs)
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
