package kafka

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/deadletter"
)

// producer is one run of the sink: a Kafka client, the records it holds,
// and the records that failed transiently and wait to be produced again.
//
// Every record taken from a source batch gets exactly one verdict through
// its batch.Ticket: Delivered in the promise of a successful produce,
// Rejected once its dead letter was delivered when the brokers refuse it
// for its content (or it has no valid topic), Failed when the sink stops
// before a verdict or the dead letter could not be delivered. A record that
// failed transiently keeps its ticket and is produced again.
type producer struct {
	s   *Sink
	cl  *kgo.Client
	ctx context.Context
	enc *encoder

	mu sync.Mutex
	// pending are the records handed to the client whose promise has not
	// run yet.
	pending map[*record]struct{}
	// failed are the records that failed transiently, in the order the
	// client reported them (per partition, the order they were produced).
	failed []*record
	// refused are the events the brokers (or the encoder) refused, waiting
	// for the run loop to hand them to the dead-letter output. Each counts
	// in settling until its verdict.
	refused []refusedEvent
	// settling counts promises that took a record out of pending and have
	// not yet given it its verdict. The producer is done only when no
	// record is pending or settling: its source batch may be waiting for
	// that verdict.
	settling int
	// stopping is set when the sink gives up what it holds.
	stopping bool

	// wake is signalled (without blocking) when a promise ran.
	wake chan struct{}
	// delivered is set when a record was delivered since the last retry.
	delivered atomic.Bool
}

// refusedEvent is an event refused for its content, with why; rec is its
// record, nil when the encoder refused it.
type refusedEvent struct {
	t   *batch.Ticket
	ev  *event.Event
	rec *record
	why deadletter.Refusal
}

func newProducer(s *Sink, cl *kgo.Client, ctx context.Context) *producer {
	return &producer{
		s: s, cl: cl, ctx: ctx, enc: newEncoder(s.cfg),
		pending: map[*record]struct{}{},
		wake:    make(chan struct{}, 1),
	}
}

// run produces the events of in until it is closed and every record has a
// verdict, or until ctx ends.
func (p *producer) run(in <-chan *event.Batch) {
	var (
		open    = true
		parked  []event.Event // the rest of a source batch, held back while records wait for a retry
		parkedT *batch.Ticket
		timer   = time.NewTimer(time.Hour)
		timerOn bool
		bo      = backoff.Backoff{Initial: p.s.cfg.RetryInitialBackoff, Max: p.s.cfg.RetryMaxBackoff}
	)
	timer.Stop()
	defer timer.Stop()
	for {
		p.deadLetters()
		p.mu.Lock()
		failed, pending := len(p.failed), len(p.pending)+p.settling
		p.mu.Unlock()
		if failed > 0 && !timerOn {
			if p.delivered.Swap(false) {
				bo.Reset()
			}
			timer.Reset(bo.Next())
			timerOn = true
		}
		if !open && failed == 0 && pending == 0 && parked == nil {
			return
		}
		var inC <-chan *event.Batch
		if open && failed == 0 && parked == nil {
			inC = in
		}
		var timerC <-chan time.Time
		var wokenC <-chan struct{}
		if timerOn {
			timerC = timer.C
			wokenC = p.s.track.Woken()
		}
		select {
		case <-p.ctx.Done():
			if parkedT != nil {
				parkedT.Done(len(parked), event.Failed)
			}
			return
		case b, ok := <-inC:
			if !ok {
				open = false
				continue
			}
			t := batch.Track(b)
			if rest := p.produce(t, b.Events); len(rest) > 0 {
				parked, parkedT = rest, t
			}
		case <-wokenC:
			// A delivery got through: retry what waits now.
			timer.Stop()
			timerOn = false
			parked, parkedT = p.retryAll(parked, parkedT)
		case <-timerC:
			timerOn = false
			parked, parkedT = p.retryAll(parked, parkedT)
		case <-p.wake:
		}
	}
}

// retryAll produces the records that failed transiently again, then the
// parked rest of a source batch; it returns what is still parked.
func (p *producer) retryAll(parked []event.Event, t *batch.Ticket) ([]event.Event, *batch.Ticket) {
	p.retry()
	if parked == nil {
		return nil, nil
	}
	if rest := p.produce(t, parked); len(rest) > 0 {
		return rest, t
	}
	return nil, nil
}

// produce hands the events of a source batch to the client and returns
// those it held back: once records wait for a retry, later events wait
// behind them, so that a partition's records keep their order.
func (p *producer) produce(t *batch.Ticket, events []event.Event) (rest []event.Event) {
	for i := range events {
		if p.ctx.Err() != nil || p.hasFailed() {
			return events[i:]
		}
		r := p.s.getRecord()
		if refusal := p.enc.encode(r, &events[i]); refusal != "" {
			p.s.putRecord(r)
			err := fmt.Errorf("event without a valid topic: %s (topic %q)", refusal, p.s.cfg.Topic)
			p.mu.Lock()
			p.settling++
			p.refused = append(p.refused, refusedEvent{t: t, ev: &events[i],
				why: deadletter.Refusal{Reason: ReasonInvalidTopic, Err: err}})
			p.mu.Unlock()
			continue
		}
		r.t, r.p, r.ev = t, p, &events[i]
		p.send(r)
	}
	return nil
}

// retry produces the records that failed transiently again, in order.
func (p *producer) retry() {
	p.mu.Lock()
	failed := p.failed
	p.failed = nil
	p.mu.Unlock()
	for i, r := range failed {
		failed[i] = nil
		r.reset()
		p.s.m.retries.Inc()
		p.send(r)
	}
}

func (p *producer) hasFailed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.failed) > 0
}

// send hands r to the client. Produce blocks while the client holds
// max_buffered_records or max_buffered_bytes, until records complete or
// ctx ends.
func (p *producer) send(r *record) {
	p.mu.Lock()
	p.pending[r] = struct{}{}
	p.mu.Unlock()
	p.cl.Produce(p.ctx, &r.kr, r.promise)
}

// done is the promise of every record. It runs on the client's promise
// goroutine and must not block.
func (p *producer) done(r *record, err error) {
	p.mu.Lock()
	if _, ok := p.pending[r]; !ok {
		// Given up by stop before the client reported it.
		p.mu.Unlock()
		return
	}
	delete(p.pending, r)
	o, reason := classify(err, p.stopping || p.ctx.Err() != nil)
	topic := r.kr.Topic
	switch o {
	case transient:
		// From here on the record belongs to the run loop, which
		// produces it again.
		p.failed = append(p.failed, r)
	case refused:
		// The run loop hands it to the dead-letter output; it settles
		// with the dead letter's verdict.
		p.settling++
		p.refused = append(p.refused, refusedEvent{t: r.t, ev: r.ev, rec: r,
			why: deadletter.Refusal{Reason: reason, Err: fmt.Errorf("topic %s: %w", topic, err)}})
	default:
		p.settling++
		defer p.settled()
	}
	p.mu.Unlock()

	switch o {
	case delivered:
		p.s.m.sentEvents.Inc()
		p.s.m.sentBytes.Add(float64(len(r.kr.Value)))
		p.delivered.Store(true)
		p.s.track.Delivered(true)
		r.t.Done(1, event.Delivered)
		p.s.putRecord(r)
	case abandoned:
		r.t.Done(1, event.Failed)
		p.s.putRecord(r)
	case refused:
		p.notify()
	case transient:
		p.s.failTransient(reason, fmt.Errorf("topic %s: %w", topic, err))
		p.notify()
	}
}

// deadLetters counts the refused events that wait and hands them to the
// dead-letter output; each is released as Rejected once its dead letter
// is delivered (Failed if it cannot be). Called by the run loop: the
// output may block while its consumers are full.
func (p *producer) deadLetters() {
	p.mu.Lock()
	refusedEvs := p.refused
	p.refused = nil
	p.mu.Unlock()
	if len(refusedEvs) == 0 {
		return
	}
	evs := make([]*event.Event, len(refusedEvs))
	for i, rf := range refusedEvs {
		evs[i] = rf.ev
		p.s.track.Refused(rf.why.Reason, rf.why.Err, 1)
	}
	p.s.dead.Write(p.ctx, evs, func(i int) deadletter.Refusal { return refusedEvs[i].why }, func(ok bool) {
		status := event.Rejected
		if !ok {
			status = event.Failed
		}
		for _, rf := range refusedEvs {
			rf.t.Done(1, status)
			if rf.rec != nil {
				p.s.putRecord(rf.rec)
			}
			p.settled()
		}
	})
}

// settled ends a promise's verdict.
func (p *producer) settled() {
	p.mu.Lock()
	p.settling--
	p.mu.Unlock()
	p.notify()
}

// notify wakes the run loop (or stop) without blocking.
func (p *producer) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// stopWait bounds how long stop waits for the client to report the
// records it held when it was closed.
const stopWait = 5 * time.Second

// stop closes the client and releases every record without a verdict as
// Failed: those the client still held, and those waiting for a retry.
func (p *producer) stop() {
	p.mu.Lock()
	p.stopping = true
	// Refused events whose dead letters were not handed out: read again
	// after a restart.
	refusedEvs := p.refused
	p.refused = nil
	p.settling -= len(refusedEvs)
	p.mu.Unlock()
	for _, rf := range refusedEvs {
		rf.t.Done(1, event.Failed)
		if rf.rec != nil {
			p.s.putRecord(rf.rec)
		}
	}
	// Closing fails the records the client holds; their promises run.
	p.cl.Close()
	deadline := time.NewTimer(stopWait)
	defer deadline.Stop()
wait:
	for {
		p.mu.Lock()
		n := len(p.pending) + p.settling - len(p.refused)
		p.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-p.wake:
		case <-deadline.C:
			break wait
		}
	}
	p.mu.Lock()
	left := make([]*record, 0, len(p.pending)+len(p.failed))
	for r := range p.pending {
		left = append(left, r) // not recycled: the client may still touch it
	}
	clear(p.pending)
	left = append(left, p.failed...)
	p.failed = nil
	late := p.refused // refused while the client closed
	p.refused = nil
	p.mu.Unlock()
	for _, r := range left {
		r.t.Done(1, event.Failed)
	}
	for _, rf := range late {
		rf.t.Done(1, event.Failed)
	}
}
