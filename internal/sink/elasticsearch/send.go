package elasticsearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// ReasonTooLarge is the discard reason of a document that the cluster
// refuses with 413 even when it is sent alone.
const ReasonTooLarge = "too_large"

// maxResponseBytes bounds the _bulk response the sink reads.
const maxResponseBytes = 64 << 20

// maxLoggedReason bounds an item's error reason in logs.
const maxLoggedReason = 512

// sendState is the scratch space of one Send; the sink pools them.
type sendState struct {
	outcomes []batch.Outcome
	reasons  []string
	errs     []error
	dead     []byte
	resp     bytes.Buffer
	zbuf     bytes.Buffer
	items    itemSummary
}

// itemSummary describes a bulk response's item errors for the log.
type itemSummary struct {
	refused, retry, extra    int
	firstRefused, firstRetry string
}

func (st *sendState) reset() {
	clear(st.errs)
	clear(st.reasons)
	st.outcomes, st.reasons, st.errs, st.dead = st.outcomes[:0], st.reasons[:0], st.errs[:0], st.dead[:0]
	if st.resp.Cap() > 1<<20 {
		st.resp = bytes.Buffer{}
	}
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// Send sends one request to _bulk; it implements driver.Sender. It returns
// nil when every item succeeded (a 409 of a create counts: the document is
// there), the request's error when all of its events failed alike, and a
// *retry.PartialError otherwise: items that failed with 429 or 5xx are
// retried, items refused otherwise are discarded with their error type as
// the reason and written to the dead-letter file. A request answered 413
// is sent again in halves, down to single documents.
func (s *Sink) Send(ctx context.Context, req *batch.Request) error {
	st := s.states.Get().(*sendState)
	defer func() {
		st.reset()
		s.states.Put(st)
	}()
	for range req.Len() {
		st.outcomes = append(st.outcomes, batch.Accepted)
		st.reasons = append(st.reasons, "")
	}
	s.bulk(ctx, st, req, 0, req.Len())
	if len(st.dead) > 0 {
		s.writeDeadLetters(st.dead)
	}
	return result(st)
}

// bulk sends the events from to to-1 of req and records their outcomes.
func (s *Sink) bulk(ctx context.Context, st *sendState, req *batch.Request, from, to int) {
	n := to - from
	err := s.post(ctx, st, req.EncodedRange(from, to))
	var se *httpclient.StatusError
	tooLarge := errors.As(err, &se) && se.Code == nethttp.StatusRequestEntityTooLarge
	switch {
	case err == nil:
		s.items(st, req, from, to)
		return
	case tooLarge && n > 1 && ctx.Err() == nil:
		if !s.warned413.Swap(true) {
			s.log.Warn("the cluster refused a bulk request as too large (HTTP 413); sending it in halves. "+
				"Lower batch.max_bytes below the cluster's http.max_content_length to avoid the extra requests",
				"documents", n, "bytes", len(req.EncodedRange(from, to)))
		}
		mid := from + n/2
		s.bulk(ctx, st, req, from, mid)
		s.bulk(ctx, st, req, mid, to)
		return
	case tooLarge:
		err = retry.Permanent(fmt.Errorf("a document of %d bytes is too large for %s even alone: %w",
			len(req.Encoded(from)), s.redacted, err))
		st.outcomes[from], st.reasons[from] = batch.Refused, ReasonTooLarge
		s.deadLetter(st, req, from, nethttp.StatusRequestEntityTooLarge, "request_entity_too_large", se.Body)
	case retry.IsPermanent(err):
		for i := from; i < to; i++ {
			st.outcomes[i] = batch.Refused
		}
	default:
		for i := from; i < to; i++ {
			st.outcomes[i] = batch.Retry
		}
	}
	st.errs = append(st.errs, fmt.Errorf("bulk request of %d documents to %s: %w", n, s.redacted, err))
}

// items reads the bulk response in st.resp for the events from to to-1.
func (s *Sink) items(st *sendState, req *batch.Request, from, to int) {
	sum := &st.items
	*sum = itemSummary{}
	seen := 0
	hasErrors, err := parseBulk(st.resp.Bytes(), func(k int, it *bulkItem) {
		seen = k + 1
		i := from + k
		if i >= to {
			sum.extra++
			return
		}
		switch {
		case it.status >= 200 && it.status < 300:
		case it.status == nethttp.StatusConflict && s.action == ActionCreate:
			// The document exists: a retry of a create that got through.
		case it.status == nethttp.StatusTooManyRequests || it.status >= 500 || it.status == 0:
			st.outcomes[i] = batch.Retry
			sum.retry++
			if sum.firstRetry == "" {
				sum.firstRetry = describe(k, it)
			}
		default:
			st.outcomes[i] = batch.Refused
			st.reasons[i] = reasonOf(it.errType)
			sum.refused++
			if sum.firstRefused == "" {
				sum.firstRefused = describe(k, it)
			}
			s.deadLetter(st, req, i, it.status, decodeString(it.errType), decodeString(it.errReason))
		}
	})
	if err != nil {
		// The cluster answered 2xx, but which items it took is unknown:
		// send them all again (at least once).
		for i := from; i < to; i++ {
			st.outcomes[i], st.reasons[i] = batch.Retry, ""
		}
		st.errs = append(st.errs, fmt.Errorf("reading the response to a bulk request of %d documents from %s: %w", to-from, s.redacted, err))
		return
	}
	if !hasErrors {
		return
	}
	missing := 0
	for i := from + seen; i < to; i++ {
		st.outcomes[i] = batch.Retry
		missing++
	}
	if sum.refused == 0 && sum.retry == 0 && missing == 0 {
		return
	}
	msg := fmt.Sprintf("bulk request of %d documents to %s:", to-from, s.redacted)
	if sum.refused > 0 {
		msg += fmt.Sprintf(" %d refused (first %s);", sum.refused, sum.firstRefused)
	}
	if sum.retry > 0 {
		msg += fmt.Sprintf(" %d to retry (first %s);", sum.retry, sum.firstRetry)
	}
	if missing > 0 || sum.extra > 0 {
		msg += fmt.Sprintf(" the response has %d items for %d documents, the missing ones are sent again;", seen, to-from)
	}
	st.errs = append(st.errs, errors.New(msg[:len(msg)-1]))
}

// describe is an item's error for the log.
func describe(k int, it *bulkItem) string {
	reason := decodeString(it.errReason)
	if len(reason) > maxLoggedReason {
		reason = reason[:maxLoggedReason] + "..."
	}
	return fmt.Sprintf("item %d: %d %s: %s", k, it.status, decodeString(it.errType), reason)
}

// deadLetter adds the dead-letter record of event i to st.
func (s *Sink) deadLetter(st *sendState, req *batch.Request, i, status int, errType, reason string) {
	if s.dead == nil {
		return
	}
	item := req.Encoded(i)
	nl := bytes.IndexByte(item, '\n')
	if nl < 0 {
		return
	}
	action, doc := item[:nl], bytes.TrimSuffix(item[nl+1:], []byte("\n"))
	st.dead = appendRecord(st.dead, time.Now(), status, errType, reason, action, doc)
}

// writeDeadLetters writes records to the dead-letter file, logging a
// failure once per run of failures.
func (s *Sink) writeDeadLetters(records []byte) {
	first, err := s.dead.write(records)
	if err == nil {
		return
	}
	s.deadErrors.Inc()
	if first {
		s.log.Error("cannot keep refused documents in the dead-letter file", "error", err)
	} else {
		s.log.Debug("cannot keep refused documents in the dead-letter file", "error", err)
	}
}

// result turns the outcomes of st into Send's result.
func result(st *sendState) error {
	var accepted, reasons int
	for i, o := range st.outcomes {
		if o == batch.Accepted {
			accepted++
		}
		if st.reasons[i] != "" {
			reasons++
		}
	}
	switch {
	case accepted == len(st.outcomes):
		return nil
	case len(st.errs) == 1 && accepted == 0 && reasons == 0:
		return st.errs[0]
	}
	// Copies: the state goes back to the pool, the error to the driver.
	p := &retry.PartialError{
		Outcomes: append([]batch.Outcome(nil), st.outcomes...),
		Err:      errors.Join(st.errs...),
	}
	if reasons > 0 {
		p.Reasons = append([]string(nil), st.reasons...)
	}
	return p
}

// post sends a _bulk body. On a 2xx answer it reads the response into
// st.resp and returns nil; otherwise it returns the failure classified by
// httpclient.CheckResponse (or the transport's error).
func (s *Sink) post(ctx context.Context, st *sendState, payload []byte) error {
	payload = s.compress(st, payload)
	body := newBody(payload)
	hreq, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodPost, s.bulkURL, body)
	if err != nil {
		return err
	}
	hreq.ContentLength = int64(len(payload))
	hreq.Header.Set("Content-Type", "application/x-ndjson")
	if s.gzip {
		hreq.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.client.Do(hreq)
	if err == nil {
		err = readBulk(resp, &st.resp, time.Now())
	}
	// The transport may read the body until it closes it, even after Do
	// returned; the payload belongs to the pooled state.
	<-body.closed
	return err
}

// compress returns payload gzipped into st.zbuf when the sink compresses,
// or payload itself.
func (s *Sink) compress(st *sendState, payload []byte) []byte {
	if !s.gzip {
		return payload
	}
	st.zbuf.Reset()
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&st.zbuf)
	_, _ = zw.Write(payload) // writing to a bytes.Buffer does not fail
	_ = zw.Close()
	gzipWriters.Put(zw)
	return st.zbuf.Bytes()
}

// readBulk reads and closes the answer to a _bulk request: for 2xx, its
// body into buf; otherwise it classifies it with httpclient.CheckResponse.
func readBulk(resp *nethttp.Response, buf *bytes.Buffer, now time.Time) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpclient.CheckResponse(resp, now)
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxResponseBytes)); err != nil {
		return fmt.Errorf("reading the bulk response: %w", err)
	}
	return nil
}

// body is a request body that reports when the transport closed it.
type body struct {
	bytes.Reader
	once   sync.Once
	closed chan struct{}
}

func newBody(p []byte) *body {
	b := &body{closed: make(chan struct{})}
	b.Reset(p)
	return b
}

// Close records that the transport is done with the body.
func (b *body) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}
