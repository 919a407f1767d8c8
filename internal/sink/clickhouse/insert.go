package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// InsertError is a failed INSERT of the events of one target.
type InsertError struct {
	// Target is the table, as ClickHouse names it: `db`.`table`.
	Target string
	// Events is the number of events the insert held.
	Events int
	// Class is what the failure means for the events, and Reason why.
	Class  Class
	Reason string
	// Err is a *ServerError when the server answered, else the transport
	// error.
	Err error
	// delay is the Retry-After delay a proxy asked for.
	delay time.Duration
	// bodyBytes is the size of the insert's data, uncompressed.
	bodyBytes int
}

// Error names the target, the number of events, the class and the cause.
func (e *InsertError) Error() string {
	return fmt.Sprintf("inserting %d events into %s (%s): %v", e.Events, e.Target, e.Class, e.Err)
}

// Unwrap returns the cause: a *ServerError or a transport error.
func (e *InsertError) Unwrap() error { return e.Err }

// policy returns e marked for the driver: its class, reason and delay.
func (e *InsertError) policy(single bool) error {
	switch {
	case e.Class == Transient:
		return &retry.Error{Class: retry.ClassTransient, Reason: e.Reason, Delay: e.delay, Err: e}
	case single:
		return retry.Reject(e.Reason, e)
	}
	return &retry.Error{Class: retry.ClassSplit, Reason: e.Reason, Err: e}
}

// scratch is the per-Send working memory, pooled.
type scratch struct {
	key  []byte
	body []byte
	idx  []int
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// MaxIsolatedRows is how many rows of one insert the sink rejects one by
// one when the server names the row it could not take. A further data
// error is taken as systematic (a column type that few events match): the
// rows before the one the server named are sent again, the others split
// into smaller inserts.
const MaxIsolatedRows = 16

// ReasonMissingField is the discard reason of an event whose database or
// table template names a field it does not have.
const ReasonMissingField = "missing_field"

// Send inserts the events of req, one INSERT per target in order of first
// appearance; it implements driver.Sender. A data error that names its row
// rejects that event and inserts the others again at once (up to
// MaxIsolatedRows times per target); an insert refused as a whole for its
// size or shape (Split, or a data error without a row) is split by the
// driver. Send returns nil when every event was inserted, the insert's
// error when every event failed alike, otherwise a *retry.PartialError
// with each event's outcome, reason and cause.
func (s *Sink) Send(ctx context.Context, req *batch.Request) error {
	f, err := s.features(ctx)
	if err != nil {
		return err
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	var groups []*group
	groups, sc.key = s.router.route(req, sc.key)

	r := &result{
		outcomes: make([]batch.Outcome, req.Len()),
		reasons:  make([]string, req.Len()),
		causes:   make([]error, req.Len()),
	}
	for _, g := range groups {
		if g.missing != "" {
			err := retry.Reject(ReasonMissingField, unroutableError(s.router, g))
			g.each(func(i int) { r.outcomes[i], r.reasons[i], r.causes[i] = batch.Refused, ReasonMissingField, err })
			r.errs = append(r.errs, err)
			continue
		}
		s.deliver(ctx, f, req, g, r, sc)
	}
	res := retry.Result(r.outcomes, r.reasons, r.errs)
	if p, ok := res.(*retry.PartialError); ok {
		p.Causes = r.causes
	}
	return res
}

// result collects the verdicts of a Send.
type result struct {
	outcomes []batch.Outcome
	reasons  []string
	causes   []error
	errs     []error
}

// deliver inserts the events of group g of req and records their outcomes
// in r.
func (s *Sink) deliver(ctx context.Context, f features, req *batch.Request, g *group, r *result, sc *scratch) {
	t := parseTarget(g.key)
	idx := sc.idx[:0]
	g.each(func(i int) { idx = append(idx, i) })
	defer func() { sc.idx = idx[:0] }()
	set := func(idx []int, o batch.Outcome, ierr *InsertError) {
		err := ierr.policy(len(idx) == 1)
		if o == batch.Split && len(idx) == 1 {
			o = batch.Refused
		}
		for _, i := range idx {
			r.outcomes[i] = o
			if o == batch.Refused {
				r.reasons[i], r.causes[i] = ierr.Reason, err
			}
		}
		r.errs = append(r.errs, err)
	}
	body := g.body(req, sc.body[:0])
	for isolated := 0; ; isolated++ {
		ierr := s.insert(ctx, f, t, body, len(idx))
		switch {
		case ierr == nil:
			for _, i := range idx {
				r.outcomes[i] = batch.Accepted
			}
			return
		case ierr.Class == Transient:
			set(idx, batch.Retry, ierr)
			return
		case ierr.Class == Split || !validRow(ierr, len(idx)):
			set(idx, batch.Split, ierr)
			return
		}
		bad := rowOf(ierr) - 1
		if isolated == MaxIsolatedRows {
			// The rows before the bad one parsed: they are sent again; the
			// others go in smaller inserts, which isolate their bad rows.
			ierr.Err = fmt.Errorf("%w; %d rows were refused one by one, the error looks systematic: splitting the %d rows from row %d on",
				ierr.Err, MaxIsolatedRows, len(idx)-bad, bad+1)
			if bad > 0 {
				set(idx[:bad], batch.Retry, &InsertError{Target: ierr.Target, Events: bad, Class: Transient, Reason: ierr.Reason, Err: ierr.Err})
			}
			set(idx[bad:], batch.Split, ierr)
			return
		}
		set(idx[bad:bad+1], batch.Refused, ierr)
		idx = append(idx[:bad], idx[bad+1:]...)
		if len(idx) == 0 {
			return
		}
		sc.body = sc.body[:0]
		for _, i := range idx {
			sc.body = append(sc.body, req.Encoded(i)...)
		}
		body = sc.body
	}
}

// rowOf returns the row the server named, or 0.
func rowOf(e *InsertError) int {
	var se *ServerError
	if errors.As(e.Err, &se) {
		return se.Row
	}
	return 0
}

// maxTrustedRowBody is the largest insert whose row numbers are trusted:
// ClickHouse's default min_chunk_bytes_for_parallel_parsing.
const maxTrustedRowBody = 10 << 20

// validRow reports whether the server named a row of an insert of n
// events, and the row number can be trusted: the insert was parsed as one
// chunk. Servers since 20.x parse large inputs in parallel chunks of
// min_chunk_bytes_for_parallel_parsing (10 MiB by default) and count rows
// per chunk.
func validRow(e *InsertError, n int) bool {
	row := rowOf(e)
	return row >= 1 && row <= n && e.bodyBytes <= maxTrustedRowBody
}
