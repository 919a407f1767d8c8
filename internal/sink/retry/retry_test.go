package retry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
)

func TestMarksKeepTheChain(t *testing.T) {
	base := errors.New("boom")
	for _, f := range []func(error) error{Permanent, TooLarge, func(e error) error { return After(e, time.Second) },
		func(e error) error { return Transient("x", e) }, func(e error) error { return Reject("x", e) },
		func(e error) error { return Bisect("x", e) }} {
		if f(nil) != nil {
			t.Fatal("wrapping nil must give nil")
		}
		if err := fmt.Errorf("ctx: %w", f(base)); !errors.Is(err, base) || err.Error() != "ctx: boom" {
			t.Fatalf("chain broken: %v", err)
		}
	}
	if !IsPermanent(fmt.Errorf("x: %w", Permanent(base))) || IsPermanent(base) {
		t.Fatal("IsPermanent")
	}
	after := fmt.Errorf("ctx: %w", After(base, 3*time.Second))
	if d, ok := Delay(after); !ok || d != 3*time.Second {
		t.Fatalf("Delay = %v, %v", d, ok)
	}
	if _, ok := Delay(base); ok {
		t.Fatal("Delay of a plain error")
	}
	// After keeps the class and reason of what it wraps.
	if c, r := Classify(After(Transient(ReasonThrottled, base), time.Second)); c != ClassTransient || r != ReasonThrottled {
		t.Fatalf("After(Transient) = %v %s", c, r)
	}
	if c, r := Classify(After(&httpclient.StatusError{Code: 413}, time.Second)); c != ClassSplit || r != ReasonTooLarge {
		t.Fatalf("After(413) = %v %s", c, r)
	}
}

func TestClassify(t *testing.T) {
	status := func(code int) error { return fmt.Errorf("sending: %w", &httpclient.StatusError{Code: code}) }
	cases := []struct {
		err    error
		class  Class
		reason string
	}{
		{status(400), ClassSplit, ReasonBadRequest},
		{status(422), ClassSplit, ReasonBadRequest},
		{status(413), ClassSplit, ReasonTooLarge},
		{status(401), ClassTransient, ReasonUnauthorized},
		{status(407), ClassTransient, ReasonUnauthorized},
		{status(403), ClassTransient, ReasonForbidden},
		{status(404), ClassTransient, ReasonNotFound},
		{status(410), ClassTransient, ReasonNotFound},
		{status(408), ClassTransient, ReasonTimeout},
		{status(429), ClassTransient, ReasonThrottled},
		{status(500), ClassTransient, ReasonServerError},
		{status(503), ClassTransient, ReasonServerError},
		{status(301), ClassTransient, ReasonRedirected},
		{status(409), ClassTransient, ReasonRefused},
		{status(415), ClassTransient, ReasonRefused},
		// A sink's own mark wins over the status.
		{Reject("mapper_parsing_exception", status(400)), ClassReject, "mapper_parsing_exception"},
		{Transient("", status(400)), ClassTransient, ReasonBadRequest},
		{Bisect("too_old", status(400)), ClassSplit, "too_old"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), ClassTransient, ReasonTimeout},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, ClassTransient, ReasonUnreachable},
		{&net.DNSError{Err: "no such host", Name: "x"}, ClassTransient, ReasonUnreachable},
		{errors.New("something"), ClassTransient, ReasonSendFailed},
		{&PartialError{Err: Transient(ReasonThrottled, errors.New("queue full"))}, ClassTransient, ReasonThrottled},
	}
	for _, c := range cases {
		if class, reason := Classify(c.err); class != c.class || reason != c.reason {
			t.Errorf("Classify(%v) = %v %s, want %v %s", c.err, class, reason, c.class, c.reason)
		}
	}
	if c, r := Classify(nil); c != ClassTransient || r != "" {
		t.Fatalf("Classify(nil) = %v %q", c, r)
	}
}

func TestStatus(t *testing.T) {
	if got := Status(fmt.Errorf("x: %w", &httpclient.StatusError{Code: http.StatusBadRequest})); got != 400 {
		t.Fatalf("Status = %d", got)
	}
	if got := Status(&Error{Class: ClassReject, Status: 409, Err: &httpclient.StatusError{Code: 400}}); got != 409 {
		t.Fatalf("an Error's Status = %d", got)
	}
	if got := Status(errors.New("x")); got != 0 {
		t.Fatalf("Status of a plain error = %d", got)
	}
}

func TestPartialError(t *testing.T) {
	base := errors.New("boom")
	pe := &PartialError{Outcomes: []batch.Outcome{batch.Accepted, batch.Refused, batch.Retry, batch.Retry, batch.Split},
		Reasons: []string{"", "too_old", "", "", ""}, Err: After(base, time.Second)}
	if got := pe.Error(); got != "1 of 5 events refused, 2 to retry, 1 to send in smaller requests: boom" {
		t.Fatalf("PartialError.Error() = %q", got)
	}
	if d, ok := Delay(pe); !ok || d != time.Second {
		t.Fatalf("Delay through PartialError = %v, %v", d, ok)
	}
	if pe.Reason(1) != "too_old" || pe.Reason(0) != ReasonRejected {
		t.Fatal("Reason")
	}
	cause := errors.New("mapping")
	pe.Causes = []error{nil, cause, nil, nil, nil}
	if pe.Cause(1) != cause || !errors.Is(pe.Cause(2), base) {
		t.Fatal("Cause")
	}
	pe.Reasons = []string{"x"} // another length: ignored
	if pe.Reason(1) != ReasonRejected {
		t.Fatal("Reasons of another length used")
	}
}

func TestResult(t *testing.T) {
	A, R, S, F := batch.Accepted, batch.Retry, batch.Split, batch.Refused
	e1, e2 := errors.New("one"), errors.New("two")
	if err := Result([]batch.Outcome{A, A}, nil, nil); err != nil {
		t.Fatalf("all accepted: %v", err)
	}
	for _, o := range []batch.Outcome{R, S} {
		if err := Result([]batch.Outcome{o, o}, nil, []error{e1}); err != e1 {
			t.Fatalf("uniform %v with one error: %v", o, err)
		}
	}
	for _, c := range []struct {
		outcomes []batch.Outcome
		reasons  []string
		errs     []error
	}{
		{[]batch.Outcome{F, F}, []string{"too_old", "too_old"}, []error{e1}}, // refusals need their reasons
		{[]batch.Outcome{R, R}, nil, []error{e1, e2}},
		{[]batch.Outcome{A, R}, nil, []error{e1}},
		{[]batch.Outcome{R, S}, nil, []error{e1}},
	} {
		err := Result(c.outcomes, c.reasons, c.errs)
		var p *PartialError
		if !errors.As(err, &p) || len(p.Outcomes) != len(c.outcomes) || (c.reasons != nil && p.Reason(0) != c.reasons[0]) {
			t.Fatalf("%v: %v", c.outcomes, err)
		}
		orig := p.Outcomes[0]
		c.outcomes[0] = 99 // a copy: the caller's slices go back to a pool
		if p.Outcomes[0] != orig {
			t.Fatal("outcomes not copied")
		}
	}
}
