package follow

import (
	"path/filepath"

	"github.com/drover-dev/drover/internal/tail"
)

// The files after a Kubernetes position. A position is the file the
// target's first unacknowledged line is in; the chain may have read
// further, into files the kubelet renames, compresses and removes on its
// own schedule (beyond containerLogMaxFiles, or two restarts later). When
// drover is not running and the kubelet removes such a file, the lines in
// it that drover had read and not delivered are gone, and a position that
// names only its own file cannot tell that the file existed. So the
// checkpoint keeps, with each position, the files after it that held
// lines not acknowledged yet (name, device and inode, head checksum), and
// the next start reports those it finds neither in the directory (by
// identity and head) nor compressed (a .gz whose decompressed head is
// theirs, which the chain reads or reports as it reads compressed files).

// LaterFile is a file of a Kubernetes target after the file of its saved
// position.
type LaterFile struct {
	// Name is the file's name in the container's directory when drover
	// last saw it (for the report; the file is found by Fingerprint).
	Name string
	// Fingerprint is the file's device and inode and the checksum of its
	// head.
	Fingerprint tail.Fingerprint
}

// laterFiles returns the files after the position's file that held lines
// not acknowledged yet, and those a loaded position named that were not
// looked for yet. Called with Follower.mu held, after current().
func (p *position) laterFiles() []LaterFile {
	var out []LaterFile
	if len(p.files) > 1 {
		p.tipMu.Lock()
		known, tn, ts := p.tipKnown, p.tipN, p.tipSize
		p.tipMu.Unlock()
		for _, fp := range p.files[1:] {
			if fp.name == "" || fp.finished() {
				continue
			}
			committed := fp.prog.Committed()
			if fp.end < 0 && known && fp.n == tn && ts >= 0 && committed >= ts {
				continue // the newest file, acknowledged to its end
			}
			fpr, _ := fp.prog.Snapshot()
			out = append(out, LaterFile{Name: fp.name, Fingerprint: fpr})
		}
	}
	return append(out, p.later...)
}

// nameLast records the name of the chain's newest file position.
func (f *Follower) nameLast(c *chain, name string) {
	f.mu.Lock()
	if n := len(c.pos.files); n > 0 {
		c.pos.files[n-1].name = name
	}
	f.mu.Unlock()
}

// renamed records that file n of the chain is now called name.
func (f *Follower) renamed(c *chain, n uint64, name string) {
	f.mu.Lock()
	for _, fp := range c.pos.files {
		if fp.n == n {
			fp.name = name
		}
	}
	f.mu.Unlock()
}

// reportLaterGone reports, as a chain starts from its saved position, the
// files after it that the position names and that are neither among es
// nor compressed: the kubelet removed them while drover was not running.
// The position keeps the others (a start that has to wait looks again).
func (f *Follower) reportLaterGone(c *chain, es []kubeEntry, saved *position) {
	f.mu.Lock()
	later := saved.later
	f.mu.Unlock()
	if len(later) == 0 {
		return
	}
	var kept []LaterFile
	var gone []string
	for _, l := range later {
		if laterPresent(c.t.Dir, es, l) {
			kept = append(kept, l)
		} else {
			gone = append(gone, l.Name)
		}
	}
	f.mu.Lock()
	saved.later = kept
	f.mu.Unlock()
	if len(gone) > 0 {
		f.flusher.Mark()
		f.reportLostKube(c, len(gone), "removed while drover was not running, after the file of the saved position", "files", gone)
	}
}

// laterPresent reports whether the file l is among es: the same identity
// and head, or a compressed file whose head is l's.
func laterPresent(dir string, es []kubeEntry, l LaterFile) bool {
	for _, e := range es {
		if !e.gz && e.id == l.Fingerprint.FileID && sameHead(e.at(dir), l.Fingerprint) {
			return true
		}
	}
	if l.Fingerprint.HeadLen <= 0 {
		return false
	}
	for _, e := range es {
		if e.gz {
			if _, ok := gzipSizeIfHead(filepath.Join(dir, e.name), l.Fingerprint); ok {
				return true
			}
		}
	}
	return false
}
