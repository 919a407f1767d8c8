// Package retry is drover's delivery policy for sinks: what a failed send
// means for its events. It classifies a Sender's errors for the sink
// driver, which acts on them (internal/sink/driver), and names the cause of
// a failure with a short reason for health, metrics and dead letters.
//
// The policy is one for every sink:
//
//   - Transient: a refusal that is not the data's fault (the destination is
//     unreachable, times out, is overloaded, answers 5xx or 429, refuses the
//     credentials with 401, 403 or 407, or does not know the path, index,
//     table, log group or topic) is sent again after a backoff, for as long
//     as it takes. The sink stops taking input meanwhile, so the log files
//     (and a disk buffer) stay the buffer: nothing is lost, and the health
//     condition says why with Reason.
//   - Split: the destination refused the request as a whole for something
//     that may be the fault of some of its events: too large (413), or a
//     bad request that names no event (400). The request is sent again in
//     halves, down to single events; a single event refused so is rejected.
//   - Reject: the destination refused these events for their content (an
//     Elasticsearch mapping error for that document, Loki's too-old line, a
//     ClickHouse row that does not parse). They are counted as discarded
//     with the reason and handed to the sink's dead-letter output.
//
// A sink's Send returns nil when the destination accepted the whole
// request; an error built with Transient, TooLarge, Bisect or Reject (or
// any other error, which is transient); or a *PartialError with one
// outcome per event when the destination answered event by event. Classify
// reads any of them, and also understands errors the Sender did not mark:
// an *httpclient.StatusError is classified by its HTTP status (HTTPStatus),
// network errors are "unreachable", timeouts "timeout".
package retry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
)

// Class is what a failure means for the events it concerned.
type Class uint8

const (
	// ClassUnknown in an Error leaves the class to what Classify finds
	// deeper in its chain (transient when nothing says otherwise).
	ClassUnknown Class = iota
	// ClassTransient: sent again after a backoff until it succeeds.
	ClassTransient
	// ClassSplit: sent again in halves; a single event is rejected.
	ClassSplit
	// ClassReject: refused for the events' content; dead-lettered.
	ClassReject
)

// String names the class for logs.
func (c Class) String() string {
	switch c {
	case ClassUnknown, ClassTransient:
		return "transient"
	case ClassSplit:
		return "split"
	case ClassReject:
		return "reject"
	}
	return "unknown"
}

// Reasons that the policy names. Sinks add their own (an Elasticsearch
// error type, "too_old" for Loki and CloudWatch Logs). A reason is a short
// snake_case word, stable enough to alert on.
const (
	// Transient causes: the state of the destination or of the way to it.
	ReasonUnreachable  = "unreachable"   // connection refused, DNS, network down
	ReasonTimeout      = "timeout"       // no answer within request.timeout, 408
	ReasonThrottled    = "throttled"     // 429 and the destination's equivalents
	ReasonServerError  = "server_error"  // 5xx and the destination's equivalents
	ReasonUnauthorized = "unauthorized"  // 401, 407, refused credentials
	ReasonForbidden    = "forbidden"     // 403, missing permissions
	ReasonNotFound     = "not_found"     // 404, unknown index, table, log group, topic
	ReasonRedirected   = "redirected"    // a 3xx answer that is not followed
	ReasonRefused      = "refused"       // another answer that names no event (a 4xx the policy does not know)
	ReasonSendFailed   = "send_failed"   // any other error
	ReasonMisconfigure = "misconfigured" // the destination refuses the sink's settings (an unknown setting, a codec)
	// Split and reject causes.
	ReasonTooLarge   = "too_large"   // 413 and the destination's equivalents
	ReasonBadRequest = "bad_request" // 400 or 422 that names no event
	ReasonRejected   = "rejected"    // a refusal without a reason of its own
	// ReasonRetriesExhausted: request.retry_max_elapsed ran out.
	ReasonRetriesExhausted = "retries_exhausted"
)

// Error is a classified failure.
type Error struct {
	Class Class
	// Reason is the failure's cause (see the Reason constants); "" takes
	// the reason Classify finds in Err.
	Reason string
	// Status is the destination's status for the failure (an HTTP status,
	// an item's status in a bulk answer), when it has one; 0 takes the
	// status found in Err.
	Status int
	// Delay is how long the destination asked to wait before the next
	// attempt (Retry-After); 0 when it did not.
	Delay time.Duration
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func mark(c Class, reason string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Class: c, Reason: reason, Err: err}
}

// Transient marks err as a transient failure with a reason. It returns nil
// for a nil err.
func Transient(reason string, err error) error { return mark(ClassTransient, reason, err) }

// TooLarge marks err as a refusal of the request's size: the request is
// sent again in halves, and a single event refused so is rejected with
// reason "too_large". It returns nil for a nil err.
func TooLarge(err error) error { return mark(ClassSplit, ReasonTooLarge, err) }

// Bisect marks err as a refusal of the request as a whole that may be the
// fault of some of its events: the request is sent again in halves, and a
// single event refused so is rejected with reason. It returns nil for a nil
// err.
func Bisect(reason string, err error) error { return mark(ClassSplit, reason, err) }

// Reject marks err as a refusal of every event of the request for its
// content: the events are discarded with reason and dead-lettered. Do not
// use it for a refusal that is not the data's fault (credentials, a
// missing index): that is transient. It returns nil for a nil err.
func Reject(reason string, err error) error { return mark(ClassReject, reason, err) }

// Permanent is Reject with reason "rejected". It returns nil for a nil err.
func Permanent(err error) error { return Reject(ReasonRejected, err) }

// IsPermanent reports whether Classify rejects err.
func IsPermanent(err error) bool {
	c, _ := Classify(err)
	return c == ClassReject
}

// After marks err as transient with the delay the destination asked for,
// keeping the class and reason err already has. It returns nil for a nil
// err.
func After(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return &Error{Class: e.Class, Reason: e.Reason, Status: e.Status, Delay: d, Err: err}
	}
	return &Error{Delay: d, Err: err}
}

// Delay returns the delay the destination asked for in err's chain: a
// delay set with After, or an *httpclient.StatusError's Retry-After.
func Delay(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.Delay > 0 {
		return e.Delay, true
	}
	var se *httpclient.StatusError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		return se.RetryAfter, true
	}
	return 0, false
}

// Classify returns the class of err and the reason of its cause: the first
// *Error in err's chain that has them, else the classification of an
// *httpclient.StatusError by HTTPStatus, else a transient failure whose
// reason tells network errors, timeouts and other failures apart. A nil
// err gives ClassTransient and "".
func Classify(err error) (Class, string) {
	if err == nil {
		return ClassTransient, ""
	}
	class, reason, classSet := ClassTransient, "", false
	for e := err; e != nil; {
		var re *Error
		if !errors.As(e, &re) {
			break
		}
		if !classSet && re.Class != ClassUnknown {
			class, classSet = re.Class, true
		}
		if reason == "" {
			reason = re.Reason
		}
		if classSet && reason != "" {
			return class, reason
		}
		e = re.Err
	}
	var se *httpclient.StatusError
	if errors.As(err, &se) {
		c, r := HTTPStatus(se.Code)
		if !classSet {
			class = c
		}
		if reason == "" {
			reason = r
		}
		return class, reason
	}
	if reason == "" {
		reason = causeOf(err)
	}
	return class, reason
}

// causeOf names the cause of an error that is not a destination's answer.
func causeOf(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ReasonTimeout
	case errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EPIPE):
		return ReasonUnreachable
	}
	var dns *net.DNSError
	var op *net.OpError
	if errors.As(err, &dns) || errors.As(err, &op) {
		return ReasonUnreachable
	}
	return ReasonSendFailed
}

// HTTPStatus is the policy for an HTTP answer that is not 2xx:
//
//	400, 422                    split (bisect): a bad request that names no event
//	413                         split: too large
//	401, 407                    transient, unauthorized
//	403                         transient, forbidden
//	404, 410                    transient, not_found
//	408                         transient, timeout
//	429                         transient, throttled
//	5xx                         transient, server_error
//	3xx                         transient, redirected
//	any other                   transient, refused
//
// A destination whose answers say more (a bulk API's items, Loki's
// messages, ClickHouse's error codes) classifies them itself.
func HTTPStatus(code int) (Class, string) {
	switch {
	case code == http.StatusBadRequest, code == http.StatusUnprocessableEntity:
		return ClassSplit, ReasonBadRequest
	case code == http.StatusRequestEntityTooLarge:
		return ClassSplit, ReasonTooLarge
	case code == http.StatusUnauthorized, code == http.StatusProxyAuthRequired:
		return ClassTransient, ReasonUnauthorized
	case code == http.StatusForbidden:
		return ClassTransient, ReasonForbidden
	case code == http.StatusNotFound, code == http.StatusGone:
		return ClassTransient, ReasonNotFound
	case code == http.StatusRequestTimeout:
		return ClassTransient, ReasonTimeout
	case code == http.StatusTooManyRequests:
		return ClassTransient, ReasonThrottled
	case code >= 500:
		return ClassTransient, ReasonServerError
	case code >= 300 && code < 400:
		return ClassTransient, ReasonRedirected
	}
	return ClassTransient, ReasonRefused
}

// Status returns the destination's status for err: an *Error's Status, or
// the code of an *httpclient.StatusError or of any error in the chain with
// a StatusCode() int method; 0 when there is none.
func Status(err error) int {
	for e := err; e != nil; {
		var re *Error
		if !errors.As(e, &re) {
			break
		}
		if re.Status != 0 {
			return re.Status
		}
		e = re.Err
	}
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		return sc.StatusCode()
	}
	return 0
}

// UnidentifiedError reports a request the destination took, of which it
// refused Refused events without saying which: an OTLP partial success
// names a count and a message, not the records. A retry cannot help (the
// destination has the request) and no dead letter can be written (which
// events it would hold is unknown): the driver counts the request as
// delivered, Refused events as discarded with Reason, and logs Err once
// per run of refusals.
type UnidentifiedError struct {
	// Refused is how many events the destination refused, at least 1 and
	// at most the request's events.
	Refused int
	// Reason is the discard reason; "" means "rejected".
	Reason string
	Err    error
}

func (e *UnidentifiedError) Error() string {
	return fmt.Sprintf("%d events refused without saying which: %v", e.Refused, e.Err)
}

func (e *UnidentifiedError) Unwrap() error { return e.Err }

// PartialError reports a request that the destination answered event by
// event. Outcomes has one entry per event of the request, in order.
// Err describes the failures for logs; it may carry a delay (After) and a
// reason (Transient) for the events to retry.
type PartialError struct {
	Outcomes []batch.Outcome
	// Reasons is optional. When it has one entry per event, the entry of a
	// Refused event is the reason its discard is counted under (a short
	// snake_case word such as "too_large"); "" stands for the default
	// reason, "rejected". Entries of other events are ignored, and so is a
	// Reasons slice of another length.
	Reasons []string
	// Causes is optional. When it has one entry per event, the entry of a
	// Refused event is the error its dead letter carries (its text and its
	// Status); nil stands for Err. Other entries are ignored.
	Causes []error
	Err    error
}

func (e *PartialError) Error() string {
	var refused, retry, split int
	for _, o := range e.Outcomes {
		switch o {
		case batch.Refused:
			refused++
		case batch.Retry:
			retry++
		case batch.Split:
			split++
		}
	}
	msg := fmt.Sprintf("%d of %d events refused, %d to retry", refused, len(e.Outcomes), retry)
	if split > 0 {
		msg += fmt.Sprintf(", %d to send in smaller requests", split)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *PartialError) Unwrap() error { return e.Err }

// Reason returns the discard reason of event i: its entry in Reasons, or
// "rejected".
func (e *PartialError) Reason(i int) string {
	if len(e.Reasons) == len(e.Outcomes) && e.Reasons[i] != "" {
		return e.Reasons[i]
	}
	return ReasonRejected
}

// Cause returns the error of event i: its entry in Causes, or Err.
func (e *PartialError) Cause(i int) error {
	if len(e.Causes) == len(e.Outcomes) && e.Causes[i] != nil {
		return e.Causes[i]
	}
	return e.Err
}

// Result turns the outcomes of a request's events into a Sender's result:
// nil when every event was accepted; errs[0] when it is the only error and
// every event is to be retried, or every event to be split (it concerns
// them all, and its class is theirs); otherwise a *PartialError with
// copies of outcomes, of reasons (when one is set) and the errors joined.
// reasons may be nil.
func Result(outcomes []batch.Outcome, reasons []string, errs []error) error {
	accepted, reasoned, uniform := 0, false, true
	for i, o := range outcomes {
		if o == batch.Accepted {
			accepted++
		}
		if i < len(reasons) && reasons[i] != "" {
			reasoned = true
		}
		uniform = uniform && o == outcomes[0]
	}
	switch {
	case accepted == len(outcomes):
		return nil
	case uniform && len(errs) == 1 && (outcomes[0] == batch.Retry || outcomes[0] == batch.Split):
		return errs[0]
	}
	p := &PartialError{Outcomes: append([]batch.Outcome(nil), outcomes...), Err: errors.Join(errs...)}
	if reasoned {
		p.Reasons = append([]string(nil), reasons...)
	}
	return p
}
