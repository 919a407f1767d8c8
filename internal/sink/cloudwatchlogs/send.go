package cloudwatchlogs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// scratch is the working memory of one Send, pooled.
type scratch struct {
	key        []byte
	events     []types.InputLogEvent
	messages   []string
	timestamps []int64
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Send delivers the events of req; it implements driver.Sender. The events
// are split by target and each target's are planned into calls (see plan);
// the calls of one target are made in order under the target's lock. Send
// returns nil when every event was accepted, the call's error when every
// event failed alike (transient, or to be split), and otherwise a
// *retry.PartialError with each event's outcome and discard reason.
func (s *Sink) Send(ctx context.Context, req *batch.Request) error {
	sc := scratchPool.Get().(*scratch)
	defer func() {
		clear(sc.events)
		clear(sc.messages)
		scratchPool.Put(sc)
	}()
	var parts []*partition
	parts, sc.key = s.router.split(req, sc.key)
	res := newResult(req.Len())
	now := s.now()
	for _, p := range parts {
		if p.missing != "" {
			for _, i := range p.idx {
				res.refuse(i, ReasonMissingField)
			}
			res.fail(retry.Reject(ReasonMissingField, fmt.Errorf("%d events have no log group or stream: field %s is missing or empty (group_name %q, stream_name %q)",
				len(p.idx), p.missing, s.cfg.GroupName, s.cfg.StreamName)))
			continue
		}
		t := parseTarget(p.key)
		for _, call := range plan(req, p.idx, now, res) {
			s.put(ctx, t, call, res, sc)
		}
	}
	return res.err()
}

// put makes one PutLogEvents call with the events of call, under the lock
// of t, creating the group and stream when they are missing and the
// configuration allows it, and records the outcome of every event.
func (s *Sink) put(ctx context.Context, t target, call []item, res *result, sc *scratch) {
	unlock, err := s.locks.lock(ctx, t.group+"\x00"+t.stream)
	if err != nil {
		s.verdict(call, res, fmt.Errorf("%s: waiting for the stream: %w", t, err))
		return
	}
	defer unlock()
	in := s.input(t, call, sc)
	out, err := s.client.PutLogEvents(ctx, in)
	if err != nil && errorCode(err) == codeNotFound {
		if cerr := s.create(ctx, t, err); cerr != nil {
			s.verdict(call, res, cerr)
			return
		}
		out, err = s.client.PutLogEvents(ctx, in)
		if err != nil && errorCode(err) == codeNotFound {
			// Creation is eventually consistent: the service may not show
			// a stream it just created. A later attempt will find it.
			err = &notYetError{err}
		}
	}
	switch {
	case errorCode(err) == codeAlreadyAccepted:
		// Only from services that still check sequence tokens: the events
		// are there.
		s.accepted(call, nil, res)
	case err != nil:
		s.verdict(call, res, describe(err, t))
	default:
		s.accepted(call, out.RejectedLogEventsInfo, res)
	}
}

// notYetError is a ResourceNotFoundException right after the sink created
// the group or stream: transient.
type notYetError struct{ err error }

// Error says that the resource was just created.
func (e *notYetError) Error() string {
	return fmt.Sprintf("%v (just created; the service does not show it yet)", e.err)
}

// Unwrap returns the service's error.
func (e *notYetError) Unwrap() error { return e.err }

// input builds the call's request. Messages point into the request body:
// the SDK serializes them before PutLogEvents returns.
func (s *Sink) input(t target, call []item, sc *scratch) *cloudwatchlogs.PutLogEventsInput {
	sc.events = sc.events[:0]
	sc.messages = append(sc.messages[:0], make([]string, len(call))...)
	sc.timestamps = append(sc.timestamps[:0], make([]int64, len(call))...)
	for k, it := range call {
		sc.messages[k] = unsafe.String(unsafe.SliceData(it.message), len(it.message))
		sc.timestamps[k] = it.timestamp
		sc.events = append(sc.events, types.InputLogEvent{Message: &sc.messages[k], Timestamp: &sc.timestamps[k]})
	}
	return &cloudwatchlogs.PutLogEventsInput{
		LogGroupName:  aws.String(t.group),
		LogStreamName: aws.String(t.stream),
		LogEvents:     sc.events,
	}
}

// accepted records a successful call: every event is accepted except those
// the service rejected one by one. Index ranges follow the service's
// documentation: events before tooOldLogEventEndIndex and before
// expiredLogEventEndIndex are too old, events from tooNewLogEventStartIndex
// on too new.
func (s *Sink) accepted(call []item, rej *types.RejectedLogEventsInfo, res *result) {
	oldEnd, expiredEnd, newStart := 0, 0, len(call)
	if rej != nil {
		oldEnd = clampIndex(rej.TooOldLogEventEndIndex, 0, len(call))
		expiredEnd = clampIndex(rej.ExpiredLogEventEndIndex, 0, len(call))
		newStart = clampIndex(rej.TooNewLogEventStartIndex, len(call), len(call))
	}
	for k, it := range call {
		switch {
		case k < oldEnd:
			res.refuseOne(it.i, ReasonTooOld)
		case k < expiredEnd:
			res.refuseOne(it.i, ReasonExpired)
		case k >= newStart:
			res.refuseOne(it.i, ReasonTooNew)
		default:
			res.accept(it.i)
			if it.truncated {
				s.truncated.Inc()
			}
		}
	}
}

// clampIndex returns *p within [0, n], or def when p is nil.
func clampIndex(p *int32, def, n int) int {
	if p == nil {
		return def
	}
	return min(max(int(*p), 0), n)
}

// verdict records a failed call: its events are retried, split (a call of
// several events refused for an invalid value) or refused (a single event
// refused so).
func (s *Sink) verdict(call []item, res *result, err error) {
	class, reason := classify(err)
	var notYet *notYetError
	if errors.As(err, &notYet) {
		class, reason = retry.ClassTransient, retry.ReasonNotFound
	}
	switch {
	case class == retry.ClassTransient:
		err = retry.Transient(reason, err)
		for _, it := range call {
			res.retry(it.i)
		}
	case len(call) > 1:
		err = retry.Bisect(reason, err)
		for _, it := range call {
			res.split(it.i)
		}
	default:
		err = retry.Reject(reason, err)
		res.refuse(call[0].i, reason)
	}
	res.fail(err)
}

// create makes the stream of t, and its group when that is missing too,
// as far as the configuration allows. notFound is the error of the call
// that found them missing. It returns nil when both exist now.
func (s *Sink) create(ctx context.Context, t target, notFound error) error {
	if !s.cfg.CreateMissingStream {
		return retry.Transient(retry.ReasonNotFound, fmt.Errorf("%s: %w (create_missing_stream is false: create the stream, the events wait)", t, notFound))
	}
	err := s.createStream(ctx, t)
	if err == nil || errorCode(err) != codeNotFound {
		return err
	}
	if !s.cfg.CreateMissingGroup {
		return retry.Transient(retry.ReasonNotFound, fmt.Errorf("%s: log group %q does not exist and create_missing_group is false (create the group, the events wait): %w", t, t.group, err))
	}
	_, err = s.client.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(t.group)})
	switch {
	case err == nil:
		s.log.Info("created log group", "group", t.group)
	case errorCode(err) == codeAlreadyExists:
	default:
		return fmt.Errorf("%s: creating the log group: %w", t, describe(err, t))
	}
	return s.createStream(ctx, t)
}

// createStream creates the stream of t; a stream that exists already is
// fine (another drover made it).
func (s *Sink) createStream(ctx context.Context, t target) error {
	_, err := s.client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName: aws.String(t.group), LogStreamName: aws.String(t.stream),
	})
	switch {
	case err == nil:
		s.log.Info("created log stream", "group", t.group, "stream", t.stream)
		return nil
	case errorCode(err) == codeAlreadyExists:
		return nil
	case errorCode(err) == codeNotFound:
		return err
	}
	return fmt.Errorf("creating the log stream: %w", describe(err, t))
}
