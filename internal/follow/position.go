package follow

import (
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/tail"
)

// position is where one target stands: its files that are not known to be
// finished, oldest first, each with the Progress that its
// acknowledgements move. The saved position of the target is the
// committed offset of its first unfinished file (see current).
//
// A file is finished once the target left it for the next one (end is
// set) and everything registered in it was acknowledged; when its last,
// unfinished line was handed over to the next file (joined), that line
// must also be acknowledged there: until then the position stays at the
// start of the line in this file, and a restart reads it again.
//
// Positions are guarded by Follower.mu: the run loop changes them, the
// Flusher reads them; the tip has a lock of its own.
type position struct {
	files []*filePos
	// path is the path of the target's first file when the position was
	// last taken (the path of a Logrotate file, which a rename changes).
	path string
	// lastSeen is when the target was last in a group of the discoverer;
	// positions of targets gone longer than checkpoint_retention are
	// forgotten.
	lastSeen time.Time
	// dir and name are those of a Numbered target (its files are
	// <dir>/<name>.<N>). A position kept for a target not followed stays
	// while the directory exists (a stream released or no longer
	// selected, whose allocation stays).
	dir, name string

	// The newest file of the target the run loop knows (tipN) and its size
	// when it last looked (tipSize, -1 while it is not open), so that a
	// snapshot tells whether the position is at the end of the target. The
	// run loop sets them, snapshots read them: tipMu, not Follower.mu,
	// which snapshots hold for long.
	tipMu    sync.Mutex
	tipKnown bool
	tipN     uint64
	tipSize  int64
	// loadedAtEnd and loadedLast are the at_end and last_file of a
	// position loaded from the checkpoint and not followed since; nil when
	// the checkpoint did not say.
	loadedAtEnd *bool
	loadedLast  *uint64
	// goneReported: its loss was reported (the target went away while
	// drover was not running).
	goneReported bool
	// later are the files after the position's file that a loaded
	// position names (Kubernetes targets; see kubelater.go).
	later []LaterFile
}

// filePos is the position in one file of a target.
type filePos struct {
	n    uint64
	prog *tail.Progress
	// end is the offset up to which the file's lines were registered with
	// prog when the target moved on to the next file; -1 while it reads it.
	end int64
	// joined is the next file when the last line of this one continues
	// there.
	joined *filePos
	// name is the file's name when last seen (Kubernetes targets, whose
	// rotation renames files); "" for the other schemes.
	name string
}

func (f *filePos) finished() bool {
	if f.end < 0 || f.prog.Committed() < f.end {
		return false
	}
	return f.joined == nil || f.joined.prog.Committed() > 0
}

// current returns the target's saved position: the number, fingerprint
// and committed offset of its first unfinished file (the last file when
// all are finished). It drops the finished files before it. ok is false
// for a position without files.
func (p *position) current() (n uint64, fp tail.Fingerprint, offset int64, ok bool) {
	for len(p.files) > 1 && p.files[0].finished() {
		p.files[0] = nil
		p.files = p.files[1:]
	}
	if len(p.files) == 0 {
		return 0, tail.Fingerprint{}, 0, false
	}
	f := p.files[0]
	fp, offset = f.prog.Snapshot()
	return f.n, fp, offset, true
}

// add appends the position of the next file of the chain.
func (p *position) add(n uint64, prog *tail.Progress) *filePos {
	f := &filePos{n: n, prog: prog, end: -1}
	p.files = append(p.files, f)
	return f
}

// failed reports whether a batch of any of the files was acknowledged
// with failure: its lines must be read again.
func (p *position) failed() bool {
	for _, f := range p.files {
		if f.prog.Failed() {
			return true
		}
	}
	return false
}

// filePath is the path of the target's file n ("" when unknown).
func (p *position) filePath(n uint64) string {
	if p.dir != "" {
		return filepath.Join(p.dir, p.name+"."+strconv.FormatUint(n, 10))
	}
	return p.path
}

// seeTip records that file n of the target exists with size bytes (-1:
// not opened); only a file at least as new as the known tip counts.
func (p *position) seeTip(n uint64, size int64) {
	p.tipMu.Lock()
	defer p.tipMu.Unlock()
	switch {
	case !p.tipKnown || n > p.tipN:
		p.tipKnown, p.tipN, p.tipSize = true, n, size
	case n == p.tipN && size >= 0:
		p.tipSize = size
	}
}

var yes, no = true, false

// lastFile is the newest file of the target the run loop knows, or the one
// loaded with the position; nil when unknown.
func (p *position) lastFile() *uint64 {
	p.tipMu.Lock()
	defer p.tipMu.Unlock()
	if !p.tipKnown {
		return p.loadedLast
	}
	n := p.tipN
	return &n
}

// undelivered reports whether a loaded position had lines drover had not
// delivered, and which files held them (the position's file to the
// newest file seen; the position's file alone when unknown). It reports
// each position once: afterwards it counts as at its end.
func (p *position) undelivered() (first, last uint64, ok bool) {
	if p.goneReported || p.loadedAtEnd == nil || *p.loadedAtEnd {
		return 0, 0, false
	}
	p.goneReported = true
	p.loadedAtEnd = &yes
	n, _, _, has := p.current()
	if !has {
		return 0, 0, false
	}
	last = n
	if p.loadedLast != nil && *p.loadedLast > n {
		last = *p.loadedLast
	}
	return n, last, true
}

// atEnd reports whether a saved position at file n, offset off, is the end
// of the target as the run loop last saw it: nothing unread, nothing
// unacknowledged. Nil when unknown (a loaded position that did not say).
func (p *position) atEnd(n uint64, off int64) *bool {
	p.tipMu.Lock()
	known, tn, ts := p.tipKnown, p.tipN, p.tipSize
	p.tipMu.Unlock()
	switch {
	case !known:
		return p.loadedAtEnd
	case n == tn && ts >= 0 && off >= ts:
		return &yes
	}
	return &no
}
