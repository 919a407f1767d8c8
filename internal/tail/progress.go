package tail

import (
	"sync"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/event"
)

// Progress tracks the read position of one file that is safe to persist:
// a checkpoint.Tracker of offsets, with the file's Fingerprint, so that a
// snapshot pairs the committed offset with the content it refers to.
//
// The reader registers every batch it emits, in file order, with the offset
// just past the batch's last line (Add), and every byte range it consumed
// without emitting anything (Advance). Acknowledgements may arrive in any
// order and on any goroutine; the committed offset moves only over the
// contiguous prefix of ranges whose batches were acknowledged ok, so a batch
// acknowledged with failure holds the committed offset below it for good
// (until Reset). Reset starts over after the file was truncated or rewound:
// the acknowledgements of batches registered before it are ignored.
type Progress struct {
	t        *checkpoint.Tracker[int64]
	mu       sync.Mutex // guards fp; taken before the tracker's lock
	fp       Fingerprint
	onCommit func()
}

// NewProgress returns a Progress committed at offset for a file with the
// given fingerprint. inflight (may be nil) counts the batches in flight;
// onCommit (may be nil) is called, without locks held, each time the
// committed offset or the fingerprint changes.
func NewProgress(fp Fingerprint, offset int64, inflight *checkpoint.Inflight, onCommit func()) *Progress {
	return &Progress{t: checkpoint.NewTrackerIn(offset, inflight, onCommit), fp: fp, onCommit: onCommit}
}

// Snapshot returns the fingerprint and the committed offset, consistently.
func (p *Progress) Snapshot() (Fingerprint, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fp, p.t.Snapshot()
}

// Committed returns the committed offset.
func (p *Progress) Committed() int64 { return p.t.Snapshot() }

// Pending is the number of ranges registered and not yet committed.
func (p *Progress) Pending() int { return p.t.Pending() }

// Failed reports whether a batch registered since the last Reset was
// acknowledged with failure: its bytes will not be committed unless they are
// read and emitted again.
func (p *Progress) Failed() bool { return p.t.FailedBatch() }

// Add registers a batch ending at end and returns its Ack, held once by the
// caller. The Ack's callback records the outcome.
func (p *Progress) Add(end int64) *event.Ack { return p.t.Add(end) }

// Advance registers bytes up to end that were consumed without producing a
// message (the skipped rest of an over-long line). They are committed as
// soon as everything before them is.
func (p *Progress) Advance(end int64) { p.t.Mark(end) }

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
	p.fp = fp
	p.t.Reset(offset)
	p.mu.Unlock()
}
