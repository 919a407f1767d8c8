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
	// Class is what the failure means for the events.
	Class Class
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

// scratch is the per-Send working memory, pooled.
type scratch struct {
	key  []byte
	body []byte
	idx  []int
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// MaxIsolatedRows is how many rows of one insert the sink discards one by
// one when the server names the row it could not take. A further data
// error is taken as systematic (a column type that no event matches, a
// timestamp format the table cannot parse): the rows before the one the
// server named are sent again, the others discarded.
const MaxIsolatedRows = 16

// Send inserts the events of req, one INSERT per target in order of first
// appearance; it implements driver.Sender. A data error that names its row
// discards that event and inserts the others again at once (up to
// MaxIsolatedRows times per target). Send returns nil when every event was
// inserted; retry.Permanent when every event was refused; the error when
// every event failed transiently; otherwise a *retry.PartialError with
// each event's outcome.
func (s *Sink) Send(ctx context.Context, req *batch.Request) error {
	f, err := s.features(ctx)
	if err != nil {
		return err
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	var groups []*group
	groups, sc.key = s.router.route(req, sc.key)

	outcomes := make([]batch.Outcome, req.Len())
	var errs []error
	var delay time.Duration
	for _, g := range groups {
		if g.missing != "" {
			g.each(func(i int) { outcomes[i] = batch.Refused })
			errs = append(errs, unroutableError(s.router, g))
			continue
		}
		if ierr := s.deliver(ctx, f, req, g, outcomes, sc); ierr != nil {
			errs = append(errs, ierr)
			delay = max(delay, ierr.delay)
		}
	}
	var accepted, refused int
	for _, o := range outcomes {
		switch o {
		case batch.Accepted:
			accepted++
		case batch.Refused:
			refused++
		}
	}
	var joined error
	if len(errs) == 1 {
		joined = errs[0]
	} else {
		joined = errors.Join(errs...)
	}
	switch {
	case joined == nil:
		return nil
	case refused == req.Len():
		return retry.Permanent(joined)
	case accepted == 0 && refused == 0:
		return afterOrNot(joined, delay)
	}
	return &retry.PartialError{Outcomes: outcomes, Err: afterOrNot(joined, delay)}
}

// deliver inserts the events of group g of req and sets their outcomes. It
// returns the error to report, or nil when the server took every event.
func (s *Sink) deliver(ctx context.Context, f features, req *batch.Request, g *group, outcomes []batch.Outcome, sc *scratch) *InsertError {
	t := parseTarget(g.key)
	idx := sc.idx[:0]
	g.each(func(i int) { idx = append(idx, i) })
	defer func() { sc.idx = idx[:0] }()
	set := func(idx []int, o batch.Outcome) {
		for _, i := range idx {
			outcomes[i] = o
		}
	}
	body := g.body(req, sc.body[:0])
	var reported *InsertError
	for isolated := 0; ; isolated++ {
		ierr := s.insert(ctx, f, t, body, len(idx))
		switch {
		case ierr == nil:
			set(idx, batch.Accepted)
			return reported
		case ierr.Class == Transient:
			set(idx, batch.Retry)
			return ierr
		case ierr.Class != DataError || !validRow(ierr, len(idx)):
			set(idx, batch.Refused)
			return ierr
		}
		bad := rowOf(ierr) - 1
		if isolated == MaxIsolatedRows {
			// The rows before the bad one parsed: they are sent again.
			set(idx[:bad], batch.Retry)
			set(idx[bad:], batch.Refused)
			ierr.Err = fmt.Errorf("%w; %d rows were refused one by one, the error looks systematic: discarding the %d rows from row %d on",
				ierr.Err, MaxIsolatedRows, len(idx)-bad, bad+1)
			return ierr
		}
		outcomes[idx[bad]] = batch.Refused
		reported = ierr
		idx = append(idx[:bad], idx[bad+1:]...)
		if len(idx) == 0 {
			return reported
		}
		sc.body = sc.body[:0]
		for _, i := range idx {
			sc.body = append(sc.body, req.Encoded(i)...)
		}
		body = sc.body
	}
}

func afterOrNot(err error, d time.Duration) error {
	if d > 0 {
		return retry.After(err, d)
	}
	return err
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
