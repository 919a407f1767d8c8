package loki

import (
	"context"
	"errors"
	"fmt"
	nethttp "net/http"
	"strings"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// Discard reasons of entries Loki refuses, read from its 400 answer for an
// entry pushed alone (see reasonOf).
const (
	ReasonTooLarge    = retry.ReasonTooLarge // 413 for an entry alone
	ReasonTooOld      = "too_old"            // older than reject_old_samples_max_age
	ReasonTooNew      = "too_new"            // beyond creation_grace_period
	ReasonOutOfOrder  = "out_of_order"       // behind the stream's newest entry (ordered writes or too far behind)
	ReasonLineTooLong = "line_too_long"      // above max_line_size
	ReasonBadLabels   = "invalid_labels"     // a label set Loki cannot take
	ReasonBadMetadata = "invalid_metadata"   // structured metadata Loki cannot take
	// Any other 400 of an entry alone: retry.ReasonBadRequest.
)

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

// Send pushes one request; it implements driver.Sender. The events are
// grouped by tenant, one push per tenant. A push that Loki answers with
// 413 or 400 is sent again by the driver in halves (400 means Loki stored
// the valid entries and refused others without saying which; it ignores
// the entries it already has when they come again), down to single
// entries, which are rejected with the reason Loki gives. Other answers
// follow retry.HTTPStatus. Send returns nil when every event was stored,
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
	class, reason := classifyPush(err)
	outcome := batch.Retry
	switch {
	case class == retry.ClassSplit && len(idx) > 1:
		outcome, err = batch.Split, &retry.Error{Class: class, Reason: reason, Err: err}
	case class != retry.ClassTransient:
		outcome, err = batch.Refused, retry.Reject(reason, err)
	}
	for _, i := range idx {
		st.outcomes[i] = outcome
		if outcome == batch.Refused {
			st.reasons[i] = reason
		}
	}
	if len(tenant) > 0 {
		err = fmt.Errorf("pushing %d entries of tenant %q to %s: %w", len(idx), tenant, s.redacted, err)
	} else {
		err = fmt.Errorf("pushing %d entries to %s: %w", len(idx), s.redacted, err)
	}
	st.errs = append(st.errs, err)
}

// classifyPush applies the delivery policy to a failed push: 413 and 400
// split the push (a 400 with the reason of Loki's message, for an entry
// pushed alone); other answers and errors follow retry.Classify.
func classifyPush(err error) (retry.Class, string) {
	var se *httpclient.StatusError
	if errors.As(err, &se) && se.Code == nethttp.StatusBadRequest {
		return retry.ClassSplit, reasonOf(se.Body)
	}
	return retry.Classify(err)
}

// reasonOf reads the reason of a refusal from Loki's 400 message, as its
// distributor words it ("entry for stream '{...}' has timestamp too old",
// "entry with timestamp ... ignored, reason: 'entry out of order'", "Max
// entry size '256' bytes exceeded", "error parsing labels").
func reasonOf(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "too old"):
		return ReasonTooOld
	case strings.Contains(m, "too new"), strings.Contains(m, "too far in the future"):
		return ReasonTooNew
	case strings.Contains(m, "out of order"), strings.Contains(m, "too far behind"):
		return ReasonOutOfOrder
	case strings.Contains(m, "line too long"), strings.Contains(m, "max entry size"), strings.Contains(m, "line_too_long"):
		return ReasonLineTooLong
	case strings.Contains(m, "structured metadata"):
		return ReasonBadMetadata
	case strings.Contains(m, "label"):
		return ReasonBadLabels
	}
	return retry.ReasonBadRequest
}

// result turns the outcomes of st into Send's result.
func result(st *sendState) error { return retry.Result(st.outcomes, st.reasons, st.errs) }

// post sends st.body (compressing it first) to tenant; the answer is read
// by httpclient.CheckResponse.
func (s *Sink) post(ctx context.Context, st *sendState, tenant []byte) error {
	r := httpclient.Request{URL: s.url, Body: st.body, Header: nethttp.Header{"Content-Type": {s.contentType}}}
	switch s.compression {
	case CompressionSnappy:
		// The fast mode of s2's snappy-compatible encoder: a profile of a
		// backlog push showed the "better" mode (what snappy.Encode of
		// this package uses) take half of drover's CPU for a few percent
		// of size.
		st.packed = s2.EncodeSnappy(st.packed[:cap(st.packed)], st.body)
		r.Body = st.packed
	case CompressionGzip:
		r.Gzip = true
	}
	if len(tenant) > 0 {
		r.Header.Set(tenantHeader, string(tenant))
	}
	return s.client.Send(ctx, r, nil)
}
