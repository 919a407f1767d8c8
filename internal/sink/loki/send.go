package loki

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	nethttp "net/http"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// ReasonTooLarge is the discard reason of an entry that Loki refuses with
// 413 even when it is pushed alone.
const ReasonTooLarge = "too_large"

// sendState is the scratch space of one Send; the sink pools them.
type sendState struct {
	b        *pushBuilder
	evs      []*event.Event
	lines    [][]byte
	tenants  tenantGroups
	outcomes []batch.Outcome
	reasons  []string
	errs     []error
	body     []byte
	packed   []byte
	zbuf     bytes.Buffer
}

func newSendState(labels, metadata *templateSet, json bool) *sendState {
	return &sendState{b: newPushBuilder(labels, metadata, json)}
}

// load takes the events and lines of req; every outcome starts as
// Accepted.
func (st *sendState) load(req *batch.Request) {
	for i, e := range req.Events() {
		st.evs = append(st.evs, e)
		st.lines = append(st.lines, req.Encoded(i))
		st.outcomes = append(st.outcomes, batch.Accepted)
		st.reasons = append(st.reasons, "")
	}
}

// reset prepares the state for a request and drops what it must not keep.
func (st *sendState) reset() {
	clear(st.evs)
	clear(st.lines)
	clear(st.errs)
	st.evs, st.lines, st.errs = st.evs[:0], st.lines[:0], st.errs[:0]
	st.outcomes, st.reasons = st.outcomes[:0], st.reasons[:0]
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// Send pushes one request; it implements driver.Sender. The events are
// grouped by tenant, one push per tenant; a push that Loki answers with
// 413 is split in halves. Send returns nil when every event was stored,
// the push's error when all of them failed alike, and a
// *retry.PartialError otherwise.
func (s *Sink) Send(ctx context.Context, req *batch.Request) error {
	st := s.states.Get().(*sendState)
	defer func() {
		st.reset()
		s.states.Put(st)
	}()
	st.load(req)
	st.tenants.split(s.tenant, st.evs)
	now := time.Now()
	for g := range st.tenants.len() {
		tenant, idx := st.tenants.group(g)
		s.push(ctx, st, tenant, idx, now)
	}
	return result(st)
}

// push sends the events idx of st to tenant and records their outcomes.
func (s *Sink) push(ctx context.Context, st *sendState, tenant []byte, idx []int32, now time.Time) {
	st.body = st.b.build(st.body[:0], st.evs, st.lines, idx, now)
	err := s.post(ctx, st, tenant)
	if err == nil {
		return
	}
	var se *httpclient.StatusError
	tooLarge := errors.As(err, &se) && se.Code == nethttp.StatusRequestEntityTooLarge
	switch {
	case tooLarge && len(idx) > 1 && ctx.Err() == nil:
		if !s.warned413.Swap(true) {
			s.log.Warn("Loki refused a request as too large (HTTP 413); sending it in halves. "+
				"Lower batch.max_bytes to avoid the extra requests", "entries", len(idx), "bytes", len(st.body))
		}
		half := len(idx) / 2
		s.push(ctx, st, tenant, idx[:half], now)
		s.push(ctx, st, tenant, idx[half:], now)
		return
	case tooLarge:
		err = retry.Permanent(fmt.Errorf("an entry of %d bytes is too large for %s even alone: %w",
			len(st.lines[idx[0]]), s.redacted, err))
		for _, i := range idx {
			st.outcomes[i], st.reasons[i] = batch.Refused, ReasonTooLarge
		}
	case retry.IsPermanent(err):
		for _, i := range idx {
			st.outcomes[i] = batch.Refused
		}
	default:
		for _, i := range idx {
			st.outcomes[i] = batch.Retry
		}
	}
	if len(tenant) > 0 {
		err = fmt.Errorf("pushing %d entries of tenant %q to %s: %w", len(idx), tenant, s.redacted, err)
	} else {
		err = fmt.Errorf("pushing %d entries to %s: %w", len(idx), s.redacted, err)
	}
	st.errs = append(st.errs, err)
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

// post sends st.body (compressing it first) to tenant and classifies the
// answer with httpclient.CheckResponse.
func (s *Sink) post(ctx context.Context, st *sendState, tenant []byte) error {
	payload := s.compress(st)
	body := newBody(payload)
	hreq, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodPost, s.url, body)
	if err != nil {
		return err
	}
	hreq.ContentLength = int64(len(payload))
	hreq.Header.Set("Content-Type", s.contentType)
	if s.compression == CompressionGzip {
		hreq.Header.Set("Content-Encoding", "gzip")
	}
	if len(tenant) > 0 {
		hreq.Header.Set(tenantHeader, string(tenant))
	}
	resp, err := s.client.Do(hreq)
	if err == nil {
		err = checkPush(resp, time.Now())
	}
	// The transport may read the body until it closes it, even after Do
	// returned; the payload belongs to the pooled state.
	<-body.closed
	return err
}

// checkPush reads and closes the body of Loki's answer to a push and
// classifies it: nil for 2xx; a transient *httpclient.StatusError for 408,
// 429 and 5xx (with the Retry-After delay); a permanent one for any other
// status, 400 and 413 included (push tells 413 apart by its Code). The
// error holds the start of Loki's message, which names the refused
// entries.
func checkPush(resp *nethttp.Response, now time.Time) error {
	return httpclient.CheckResponse(resp, now)
}

// compress returns st.body compressed as configured, in a buffer of st.
func (s *Sink) compress(st *sendState) []byte {
	switch s.compression {
	case CompressionSnappy:
		// The fast mode of s2's snappy-compatible encoder: a profile of a
		// backlog push showed the "better" mode (what snappy.Encode of
		// this package uses) take half of drover's CPU for a few percent
		// of size.
		st.packed = s2.EncodeSnappy(st.packed[:cap(st.packed)], st.body)
		return st.packed
	case CompressionGzip:
		st.zbuf.Reset()
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&st.zbuf)
		_, _ = zw.Write(st.body) // writing to a bytes.Buffer does not fail
		_ = zw.Close()
		gzipWriters.Put(zw)
		return st.zbuf.Bytes()
	}
	return st.body
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
