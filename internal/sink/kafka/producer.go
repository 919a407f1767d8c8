package kafka

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/batch"
)

// producer is one run of the sink: a Kafka client, the records it holds,
// and the records that failed transiently and wait to be produced again.
//
// Every record taken from a source batch gets exactly one verdict through
// its batch.Ticket: Delivered in the promise of a successful produce,
// Rejected when the brokers refuse it for good (or it has no topic),
// Failed when the sink stops before a verdict. A record that failed
// transiently keeps its ticket and is produced again.
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
		open     = true
		parked   []event.Event // the rest of a source batch, held back while records wait for a retry
		parkedT  *batch.Ticket
		timer    = time.NewTimer(time.Hour)
		timerOn  bool
		attempts int // retry rounds since the last delivery
	)
	timer.Stop()
	defer timer.Stop()
	for {
		p.mu.Lock()
		failed, pending := len(p.failed), len(p.pending)+p.settling
		p.mu.Unlock()
		if failed > 0 && !timerOn {
			if p.delivered.Swap(false) {
				attempts = 0
			}
			attempts++
			timer.Reset(p.s.backoff.Delay(attempts))
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
		if timerOn {
			timerC = timer.C
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
		case <-timerC:
			timerOn = false
			p.retry()
			if parked != nil {
				rest := p.produce(parkedT, parked)
				if len(rest) == 0 {
					parked, parkedT = nil, nil
				} else {
					parked = rest
				}
			}
		case <-p.wake:
		}
	}
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
			p.s.discard(fmt.Errorf("event without a valid topic: %s (topic %q)", refusal, p.s.cfg.Topic), 1)
			t.Done(1, event.Rejected)
			continue
		}
		r.t, r.p = t, p
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
	o := classify(err, p.stopping || p.ctx.Err() != nil)
	topic := r.kr.Topic
	if o == transient {
		// From here on the record belongs to the run loop, which
		// produces it again.
		p.failed = append(p.failed, r)
	} else {
		p.settling++
		defer p.settled()
	}
	p.mu.Unlock()

	switch o {
	case delivered:
		p.s.m.sentEvents.Inc()
		p.s.m.sentBytes.Add(float64(len(r.kr.Value)))
		p.delivered.Store(true)
		p.s.endFailing()
		p.s.endDiscarding()
		r.t.Done(1, event.Delivered)
		p.s.putRecord(r)
	case permanent:
		p.s.discard(fmt.Errorf("topic %s: %w", topic, err), 1)
		r.t.Done(1, event.Rejected)
		p.s.putRecord(r)
	case abandoned:
		r.t.Done(1, event.Failed)
		p.s.putRecord(r)
	case transient:
		p.s.failTransient(fmt.Errorf("topic %s: %w", topic, err))
		p.notify()
	}
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
	p.mu.Unlock()
	// Closing fails the records the client holds; their promises run.
	p.cl.Close()
	deadline := time.NewTimer(stopWait)
	defer deadline.Stop()
wait:
	for {
		p.mu.Lock()
		n := len(p.pending) + p.settling
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
	p.mu.Unlock()
	for _, r := range left {
		r.t.Done(1, event.Failed)
	}
}
