// Package retry classifies a sink's send errors (transient, permanent,
// partial) and computes backoff delays. (A failing destination is logged
// once per run of failures by health.Streak.)
//
// A sink's Send returns:
//   - nil when the destination accepted the whole request;
//   - Permanent(err) when it refused the whole request for good (a retry
//     cannot succeed: bad request, payload too large, ...);
//   - a *PartialError with one outcome per event when it accepted some
//     events, refused some and failed transiently on others;
//   - any other error for a transient failure (network error, timeout,
//     overload). After(err, d) adds the delay the destination asked for.
package retry

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/drover-dev/drover/internal/sink/batch"
)

// PermanentError is a failure that a retry cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as permanent. It returns nil for a nil err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err or an error it wraps was marked with
// Permanent.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}

// AfterError is a transient failure for which the destination named the
// delay before the next attempt (an HTTP Retry-After header).
type AfterError struct {
	Err   error
	Delay time.Duration
}

func (e *AfterError) Error() string { return e.Err.Error() }
func (e *AfterError) Unwrap() error { return e.Err }

// After marks err as transient with the delay the destination asked for.
// It returns nil for a nil err.
func After(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &AfterError{Err: err, Delay: d}
}

// Delay returns the delay named by After in err's chain.
func Delay(err error) (time.Duration, bool) {
	var ae *AfterError
	if errors.As(err, &ae) && ae.Delay > 0 {
		return ae.Delay, true
	}
	return 0, false
}

// PartialError reports a request that the destination answered event by
// event. Outcomes has one entry per event of the request, in order. Err
// describes the failures for logs; it may carry a delay (After) for the
// events to retry.
type PartialError struct {
	Outcomes []batch.Outcome
	// Reasons is optional. When it has one entry per event, the entry of a
	// Refused event is the reason its discard is counted under (a short
	// snake_case word such as "too_large"); "" stands for the default
	// reason, "rejected". Entries of other events are ignored, and so is a
	// Reasons slice of another length.
	Reasons []string
	Err     error
}

func (e *PartialError) Error() string {
	var refused, retry int
	for _, o := range e.Outcomes {
		switch o {
		case batch.Refused:
			refused++
		case batch.Retry:
			retry++
		}
	}
	msg := fmt.Sprintf("%d of %d events refused, %d to retry", refused, len(e.Outcomes), retry)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *PartialError) Unwrap() error { return e.Err }

// Backoff computes exponential delays with full jitter: the delay before
// retry n (from 1) is uniformly random in [0, min(Max, Initial*2^(n-1))).
// Full jitter spreads the retries of many senders that failed together.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// Delay returns the delay before retry attempt (1 for the first retry).
func (b Backoff) Delay(attempt int) time.Duration {
	ceil := b.Initial
	for i := 1; i < attempt && ceil < b.Max; i++ {
		ceil *= 2
	}
	if ceil > b.Max {
		ceil = b.Max
	}
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil)
}
