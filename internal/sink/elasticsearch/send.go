package elasticsearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"time"

	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// maxResponseBytes bounds the _bulk response the sink reads.
const maxResponseBytes = 64 << 20

// maxLoggedReason bounds an item's error reason in logs.
const maxLoggedReason = 512

// sendState is the scratch space of one Send; the sink pools them.
type sendState struct {
	outcomes []batch.Outcome
	reasons  []string
	causes   []error
	errs     []error
	resp     bytes.Buffer
	items    itemSummary
}

// itemSummary describes a bulk response's item errors for the log.
type itemSummary struct {
	refused, retry, extra    int
	firstRefused, firstRetry string
	retryStatus              int // the status of the first item to retry
}

func (st *sendState) reset() {
	clear(st.errs)
	clear(st.reasons)
	clear(st.causes)
	st.outcomes, st.reasons, st.causes, st.errs = st.outcomes[:0], st.reasons[:0], st.causes[:0], st.errs[:0]
	if st.resp.Cap() > 1<<20 {
		st.resp = bytes.Buffer{}
	}
}

// Send sends one request to _bulk; it implements driver.Sender. It returns
// nil when every item succeeded (a 409 of a create counts: the document is
// there); the request's error when the cluster did not answer item by
// item (the driver splits a request answered 413 or 400, and retries the
// others); and a *retry.PartialError otherwise: items that failed for the
// cluster's state (429, 5xx, 401, 403, 404, 408) are retried, items
// refused otherwise are rejected with their error type as the reason.
func (s *Sink) Send(ctx context.Context, req *batch.Request) error {
	st := s.states.Get().(*sendState)
	defer func() {
		st.reset()
		s.states.Put(st)
	}()
	err := s.post(ctx, st, req.Body)
	if err != nil {
		return fmt.Errorf("bulk request of %d documents to %s: %w", req.Len(), s.redacted, err)
	}
	for range req.Len() {
		st.outcomes = append(st.outcomes, batch.Accepted)
		st.reasons = append(st.reasons, "")
		st.causes = append(st.causes, nil)
	}
	s.items(st, req.Len())
	p := retry.Result(st.outcomes, st.reasons, st.errs)
	if pe, ok := p.(*retry.PartialError); ok && st.items.refused > 0 {
		pe.Causes = append([]error(nil), st.causes...)
	}
	return p
}

// items reads the bulk response in st.resp for the n events of a request.
func (s *Sink) items(st *sendState, n int) {
	sum := &st.items
	*sum = itemSummary{}
	seen := 0
	hasErrors, err := parseBulk(st.resp.Bytes(), func(i int, it *bulkItem) {
		seen = i + 1
		if i >= n {
			sum.extra++
			return
		}
		switch {
		case it.status >= 200 && it.status < 300:
		case it.status == nethttp.StatusConflict && s.action == ActionCreate:
			// The document exists: a retry of a create that got through.
		case itemTransient(it.status):
			st.outcomes[i] = batch.Retry
			sum.retry++
			if sum.firstRetry == "" {
				sum.firstRetry, sum.retryStatus = describe(i, it), it.status
			}
		default:
			st.outcomes[i] = batch.Refused
			st.reasons[i] = reasonOf(it.errType)
			st.causes[i] = &retry.Error{Class: retry.ClassReject, Status: it.status,
				Err: fmt.Errorf("%s: %s", decodeString(it.errType), decodeString(it.errReason))}
			sum.refused++
			if sum.firstRefused == "" {
				sum.firstRefused = describe(i, it)
			}
		}
	})
	if err != nil {
		// The cluster answered 2xx, but which items it took is unknown:
		// send them all again (at least once).
		for i := range n {
			st.outcomes[i], st.reasons[i], st.causes[i] = batch.Retry, "", nil
		}
		st.errs = append(st.errs, fmt.Errorf("reading the response to a bulk request of %d documents from %s: %w", n, s.redacted, err))
		return
	}
	if !hasErrors {
		return
	}
	missing := 0
	for i := seen; i < n; i++ {
		st.outcomes[i] = batch.Retry
		missing++
	}
	if sum.refused == 0 && sum.retry == 0 && missing == 0 {
		return
	}
	msg := fmt.Sprintf("bulk request of %d documents to %s:", n, s.redacted)
	if sum.refused > 0 {
		msg += fmt.Sprintf(" %d refused (first %s);", sum.refused, sum.firstRefused)
	}
	if sum.retry > 0 {
		msg += fmt.Sprintf(" %d to retry (first %s);", sum.retry, sum.firstRetry)
	}
	if missing > 0 || sum.extra > 0 {
		msg += fmt.Sprintf(" the response has %d items for %d documents, the missing ones are sent again;", seen, n)
	}
	err = errors.New(msg[:len(msg)-1])
	if sum.retry > 0 {
		_, reason := retry.HTTPStatus(sum.retryStatus)
		if sum.retryStatus == 0 {
			reason = retry.ReasonServerError
		}
		err = retry.Transient(reason, err)
	}
	st.errs = append(st.errs, err)
}

// itemTransient reports whether an item failed for the cluster's state
// rather than its document: throttled (429), failing (5xx, or no status),
// refusing the credentials or access (401, 403: a read-only index block
// included), a missing index (404) or a timeout (408). The document is sent
// again.
func itemTransient(status int) bool {
	switch status {
	case 0, nethttp.StatusUnauthorized, nethttp.StatusForbidden, nethttp.StatusNotFound,
		nethttp.StatusProxyAuthRequired, nethttp.StatusRequestTimeout, nethttp.StatusTooManyRequests:
		return true
	}
	return status >= 500
}

// describe is an item's error for the log.
func describe(k int, it *bulkItem) string {
	reason := decodeString(it.errReason)
	if len(reason) > maxLoggedReason {
		reason = reason[:maxLoggedReason] + "..."
	}
	return fmt.Sprintf("item %d: %d %s: %s", k, it.status, decodeString(it.errType), reason)
}

// post sends a _bulk body. On a 2xx answer it reads the response into
// st.resp and returns nil; otherwise it returns the transport's error or
// the answer's *httpclient.StatusError.
func (s *Sink) post(ctx context.Context, st *sendState, payload []byte) error {
	r := httpclient.Request{URL: s.bulkURL, Body: payload, Gzip: s.gzip, Header: nethttp.Header{"Content-Type": {"application/x-ndjson"}}}
	return s.client.Send(ctx, r, func(resp *nethttp.Response) error { return readBulk(resp, &st.resp, time.Now()) })
}

// readBulk reads and closes the answer to a _bulk request: for 2xx, its
// body into buf; otherwise it returns httpclient.CheckResponse's error.
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
