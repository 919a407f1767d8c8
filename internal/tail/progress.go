package tail

import (
	"sync"

	"github.com/drover-dev/drover/internal/event"
)

// Progress tracks the read position of one file that is safe to persist.
//
// The reader registers every batch it emits, in file order, with the offset
// just past the batch's last line (Add), and every byte range it consumed
// without emitting anything (Advance). Acknowledgements may arrive in any
// order and on any goroutine; the committed offset moves only over the
// contiguous prefix of ranges whose batches were acknowledged ok, so a batch
// acknowledged with failure holds the committed offset below it for good
// (until Reset). Reset starts over after the file was truncated or rewound:
// the acknowledgements of batches registered before it are ignored.
//
// Progress also carries the file's Fingerprint, so that a snapshot pairs the
// committed offset with the content it refers to.
type Progress struct {
	mu        sync.Mutex
	fp        Fingerprint
	committed int64
	epoch     uint64
	base      uint64 // sequence number of pending[head]
	head      int
	pending   []pendingRange
	failed    bool

	inflight *Inflight
	onCommit func()
}

type pendingRange struct {
	end   int64
	state uint8
}

const (
	rangeInFlight uint8 = iota
	rangeOK
	rangeFailed
)

// NewProgress returns a Progress committed at offset for a file with the
// given fingerprint. inflight (may be nil) counts the batches in flight;
// onCommit (may be nil) is called, without locks held, each time the
// committed offset or the fingerprint changes.
func NewProgress(fp Fingerprint, offset int64, inflight *Inflight, onCommit func()) *Progress {
	return &Progress{fp: fp, committed: offset, inflight: inflight, onCommit: onCommit}
}

// Snapshot returns the fingerprint and the committed offset, consistently.
func (p *Progress) Snapshot() (Fingerprint, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fp, p.committed
}

// Committed returns the committed offset.
func (p *Progress) Committed() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.committed
}

// Pending is the number of ranges registered and not yet committed.
func (p *Progress) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending) - p.head
}

// Failed reports whether a batch registered since the last Reset was
// acknowledged with failure: its bytes will not be committed unless they are
// read and emitted again.
func (p *Progress) Failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// Add registers a batch ending at end and returns its Ack, held once by the
// caller. The Ack's callback records the outcome.
func (p *Progress) Add(end int64) *event.Ack {
	p.mu.Lock()
	seq := p.base + uint64(len(p.pending)-p.head)
	epoch := p.epoch
	p.pending = append(p.pending, pendingRange{end: end})
	p.mu.Unlock()
	p.inflight.add()
	return event.NewAck(func(ok bool) { p.settle(epoch, seq, ok) })
}

// Advance registers bytes up to end that were consumed without producing a
// message (the skipped rest of an over-long line). They are committed as
// soon as everything before them is.
func (p *Progress) Advance(end int64) {
	p.mu.Lock()
	if p.head == len(p.pending) {
		moved := end > p.committed
		if moved {
			p.committed = end
		}
		p.mu.Unlock()
		if moved && p.onCommit != nil {
			p.onCommit()
		}
		return
	}
	p.pending = append(p.pending, pendingRange{end: end, state: rangeOK})
	p.mu.Unlock()
}

// SetFingerprint replaces the fingerprint (the head grew, same content).
func (p *Progress) SetFingerprint(fp Fingerprint) {
	p.mu.Lock()
	changed := p.fp != fp
	p.fp = fp
	p.mu.Unlock()
	if changed && p.onCommit != nil {
		p.onCommit()
	}
}

// Reset forgets every registered range and commits offset for a file with
// fingerprint fp. Acknowledgements of earlier batches are ignored.
func (p *Progress) Reset(fp Fingerprint, offset int64) {
	p.mu.Lock()
	p.epoch++
	p.base += uint64(len(p.pending) - p.head)
	p.pending, p.head = p.pending[:0], 0
	p.failed = false
	p.fp, p.committed = fp, offset
	p.mu.Unlock()
	if p.onCommit != nil {
		p.onCommit()
	}
}

func (p *Progress) settle(epoch, seq uint64, ok bool) {
	// Counted down last, so that whoever waits for Inflight sees the
	// committed offset that this acknowledgement produced.
	defer p.inflight.done()
	p.mu.Lock()
	if epoch != p.epoch || seq < p.base {
		p.mu.Unlock()
		return
	}
	i := p.head + int(seq-p.base)
	if i >= len(p.pending) {
		p.mu.Unlock()
		return
	}
	if ok {
		p.pending[i].state = rangeOK
	} else {
		p.pending[i].state = rangeFailed
		p.failed = true
	}
	moved := false
	for p.head < len(p.pending) && p.pending[p.head].state == rangeOK {
		p.committed = p.pending[p.head].end
		p.head++
		p.base++
		moved = true
	}
	p.compact()
	p.mu.Unlock()
	if moved && p.onCommit != nil {
		p.onCommit()
	}
}

// compact keeps the pending slice from growing without bound as ranges are
// committed at its front.
func (p *Progress) compact() {
	switch {
	case p.head == len(p.pending):
		p.pending, p.head = p.pending[:0], 0
	case p.head >= 64 && p.head*2 >= len(p.pending):
		n := copy(p.pending, p.pending[p.head:])
		p.pending, p.head = p.pending[:n], 0
	}
}
