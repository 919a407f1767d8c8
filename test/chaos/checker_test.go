package chaos

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxProblems bounds the problems the checker keeps for the report.
const maxProblems = 30

// checker is the oracle. It knows every line the writers started (through
// their chains) and every event the receiver took, and nothing of drover
// but the loss reports drover logs: it recomputes what each line must
// arrive as (see expect) and with which metadata, counts every line's
// arrivals, and flags what must never happen: an event that matches no
// line that was written, a line that arrived altered or with another
// stream's metadata, a partial line, and, at the end, a line that never
// arrived although drover could have read it.
type checker struct {
	seed   uint64
	nodeID string

	mu      sync.Mutex
	chains  []*chain          // by stream index
	byKey   map[string]*chain // by streamInfo.key
	counts  [][]uint16        // arrivals by stream index and seq
	events  int               // events taken
	fragOK  int               // rests of lines whose head was purged (see fragment)
	frags   []fragment
	bad     int // events that must not exist (all counted in problems)
	partial int
	probs   []string
}

// fragment is a piece of a line that logmon split across files, arriving
// on its own because a file holding another piece of the line is lost.
// A line split at the size limit spans files a..b (a head in a, whole
// files in between, a rest in b); drover reads the files it can in
// order and joins what consecutive files hold, so each run of readable
// files yields one piece: from the line's start or from the start of the
// first file after a lost one, to the line's end or to the end of the
// last file before a lost one. A piece that does not reach the line's end
// is flagged partial. An event may match several pieces (a short one):
// it is accepted when the files around one of them are lost (checked at
// the end, in verdict).
type fragment struct {
	c      *chain
	pieces []piece
}

// piece is one way an event matched a part of a split line: the file
// before from (lostBefore) and the file at to (lostAt) must be lost; -1
// when the piece starts at the line's start or ends at its end.
type piece struct {
	seq                int
	lostBefore, lostAt int
	head               bool // the piece starts at the line's start
}

// cut is where a split line continues in file n, at byte off of the line.
type cut struct{ n, off int }

// splitLines returns the lines of a chain that continue across files, with
// their cuts in file order.
func splitLines(c *chain) map[int][]cut {
	out := map[int][]cut{}
	for n, f := range c.fragments() {
		out[f.contSeq] = append(out[f.contSeq], cut{n: n, off: f.contOff})
	}
	for _, cs := range out {
		sort.Slice(cs, func(i, j int) bool { return cs[i].n < cs[j].n })
	}
	return out
}

// matchPieces returns the pieces of line seq of c (split at cuts) that
// msg is, as drover's rules make it arrive: partial exactly when the
// piece does not reach the line's end.
func (k *checker) matchPieces(c *chain, seq int, cuts []cut, msg string, truncated, partial bool) []piece {
	raw := appendLine(nil, k.seed, c.info.index, seq)
	end := len(raw) - 1
	var out []piece
	// from: the line's start, or a cut (the first byte of file cuts[i].n).
	for i := -1; i < len(cuts); i++ {
		from, lostBefore := 0, -1
		if i >= 0 {
			from, lostBefore = cuts[i].off, cuts[i].n-1
		}
		// to: a later cut (the piece ends where file cuts[j].n begins, and
		// that file is lost), or the line's end.
		for j := i + 1; j <= len(cuts); j++ {
			to, lostAt := end, -1
			if j < len(cuts) {
				to, lostAt = cuts[j].off, cuts[j].n
			}
			if i < 0 && j == len(cuts) {
				continue // the whole line: not a fragment
			}
			if (to != end) != partial {
				continue
			}
			want := expect(raw[from:to])
			if msg == want.message && truncated == want.truncated {
				out = append(out, piece{seq: seq, lostBefore: lostBefore, lostAt: lostAt, head: i < 0})
			}
		}
	}
	return out
}

func newChecker(seed uint64, nodeID string) *checker {
	return &checker{seed: seed, nodeID: nodeID, byKey: map[string]*chain{}}
}

// add makes a stream known before its first byte is written.
func (k *checker) add(c *chain) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for len(k.chains) <= c.info.index {
		k.chains = append(k.chains, nil)
		k.counts = append(k.counts, nil)
	}
	k.chains[c.info.index] = c
	k.byKey[c.info.key()] = c
}

// problem records something that must not happen.
func (k *checker) problemLocked(format string, args ...any) {
	k.bad++
	if len(k.probs) < maxProblems {
		k.probs = append(k.probs, fmt.Sprintf(format, args...))
	}
}

// fail records a problem found outside the checker (the receiver's).
func (k *checker) fail(msg string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.problemLocked("%s", msg)
}

// observe checks one event the receiver took.
func (k *checker) observe(rec *record) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.events++
	if rec.Message == nil {
		k.problemLocked("event without a message: %+v", rec)
		return
	}
	msg := *rec.Message
	idx, seq, ok := parseID(msg)
	if rec.Partial {
		k.headLocked(rec, msg, idx, seq, ok)
		return
	}
	if !ok {
		k.fragmentLocked(rec, msg)
		return
	}
	if idx >= len(k.chains) || k.chains[idx] == nil {
		k.problemLocked("event of stream %d, which was never written: %.80q", idx, msg)
		return
	}
	c := k.chains[idx]
	if started, _ := c.progress(); seq >= started {
		k.problemLocked("line %d.%d arrived before it was written (%d started): %.80q", idx, seq, started, msg)
		return
	}
	raw := appendLine(nil, k.seed, idx, seq)
	want := expect(raw[:len(raw)-1])
	if msg != want.message || rec.Truncated != want.truncated {
		k.problemLocked("line %d.%d arrived altered:\n  got  %q truncated=%v\n  want %q truncated=%v",
			idx, seq, clip(msg), rec.Truncated, clip(want.message), want.truncated)
		return
	}
	if err := k.metaLocked(c.info, rec); err != "" {
		k.problemLocked("line %d.%d arrived with the wrong metadata: %s", idx, seq, err)
		return
	}
	counts := k.counts[idx]
	for len(counts) <= seq {
		counts = append(counts, make([]uint16, max(1024, len(counts)))...)
	}
	if counts[seq] < 1<<16-1 {
		counts[seq]++
	}
	k.counts[idx] = counts
}

// metaLocked compares an event's metadata with its stream's.
func (k *checker) metaLocked(s *streamInfo, rec *record) string {
	n := rec.Nomad
	if rec.SourceType != "nomad_logs" || rec.Stream != s.stream || n.AllocID != s.allocID || n.TaskName != s.task ||
		n.Namespace != s.namespace || n.JobName != s.job || n.NodeID != k.nodeID {
		return fmt.Sprintf("got source_type=%q stream=%q nomad=%+v, want stream %s of %s/%s (job %s)",
			rec.SourceType, rec.Stream, n, s.stream, s.allocID, s.task, s.job)
	}
	return ""
}

// fragmentLocked checks an event that does not start with a line id and
// is not flagged partial: it must be the last piece of a line that logmon
// split across files, arriving without the pieces before it because a
// file holding one of them is lost (checked at the end, in verdict).
func (k *checker) fragmentLocked(rec *record, msg string) {
	c := k.byKey[rec.Nomad.AllocID+"/"+rec.Nomad.TaskName+"/"+rec.Stream]
	if c == nil {
		k.problemLocked("event that matches no line written: %.120q (stream %s/%s/%s)", msg, rec.Nomad.AllocID, rec.Nomad.TaskName, rec.Stream)
		return
	}
	if k.pieceLocked(c, -1, rec, msg) {
		return
	}
	k.problemLocked("event that matches no line written: %.120q (stream %s; %s)", msg, c.info.key(), k.locateLocked(c, msg))
}

// pieceLocked records msg as a piece of a split line of c (of line seq
// only, when seq >= 0) and reports whether it is one.
func (k *checker) pieceLocked(c *chain, seq int, rec *record, msg string) bool {
	var pieces []piece
	for line, cuts := range splitLines(c) {
		if seq >= 0 && line != seq {
			continue
		}
		pieces = append(pieces, k.matchPieces(c, line, cuts, msg, rec.Truncated, rec.Partial)...)
	}
	if len(pieces) == 0 {
		return false
	}
	k.fragOK++
	k.frags = append(k.frags, fragment{c: c, pieces: pieces})
	return true
}

// locateLocked says where msg occurs in the stream's lines, to diagnose an
// event that matches none.
func (k *checker) locateLocked(c *chain, msg string) string {
	started, _ := c.progress()
	for seq := 0; seq < started; seq++ {
		raw := appendLine(nil, k.seed, c.info.index, seq)
		if i := strings.Index(string(raw), msg); i >= 0 && msg != "" {
			return fmt.Sprintf("bytes %d-%d of line %d (%d bytes), in files %v", i, i+len(msg), seq, len(raw), c.filesOf(seq))
		}
	}
	return "found in no line"
}

// headLocked checks an event flagged partial. No writer pauses in a line
// for as long as partial_line_timeout, and every allocation's lines end
// before it completes, so the only partial line drover may send is a
// piece of a line that logmon split across files when the file holding
// the piece that follows is lost: the head (from the line's start), or a
// piece from the middle when the file before it is lost too.
func (k *checker) headLocked(rec *record, msg string, idx, seq int, ok bool) {
	k.partial++
	c := k.byKey[rec.Nomad.AllocID+"/"+rec.Nomad.TaskName+"/"+rec.Stream]
	if ok && idx < len(k.chains) && k.chains[idx] != nil {
		c = k.chains[idx] // the head holds the whole id
	}
	if c != nil && k.metaLocked(c.info, rec) == "" {
		if ok && k.pieceLocked(c, seq, rec, msg) {
			return
		}
		// A head whose id was cut, or a piece from the middle: not
		// restricted to the line its first bytes seem to name.
		if k.pieceLocked(c, -1, rec, msg) {
			return
		}
	}
	k.problemLocked("line flagged partial that is not a piece of a line split across files: %.120q", msg)
}

func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

// run is one drover process: when it started (before exec) and ended
// (after it was reaped), and when it had started its pipeline (its log's
// "drover started"; zero while it had not).
type run struct {
	start, end time.Time
	ready      time.Time
	killed     bool      // ended by SIGKILL (no chance to report anything)
	stopping   time.Time // when it was sent SIGTERM: it reads no more after that
}

// lossReport is drover's own report that files of a stream were deleted
// before it read them (a log line of the nomad_logs source).
type lossReport struct {
	key         string // alloc/task/stream
	first, last int
}

// verdict is the checker's account of one run of the suite.
type verdict struct {
	written    int // lines written completely
	delivered  int // distinct lines that arrived
	events     int // events taken
	duplicates int // arrivals beyond the first
	lost       int // lines that never arrived although drover could have read them
	purged     int // lines that never arrived: their file was deleted before drover could read it, and drover reported it
	gced       int // lines that never arrived: their allocation directory was deleted before drover could read it
	fragments  int // rests of lines whose head was lost
	bad        int // events that must not exist
	problems   []string
	firstLost  []string
	excusedBy  map[string]int // excused lines by stream and reason, with detail
}

// allArrived reports whether every line written to the chains arrived.
func (k *checker) allArrived(chains []*chain) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range chains {
		_, done := c.progress()
		cs := k.counts[c.info.index]
		if len(cs) < done {
			return false
		}
		for _, n := range cs[:done] {
			if n == 0 {
				return false
			}
		}
	}
	return true
}

// missing counts the lines not yet delivered that drover must deliver:
// the liveness condition is missing() == 0.
func (k *checker) missing(runs []run, reports []lossReport) int {
	return k.verdict(runs, reports, false).lost
}

// verdict judges every line written so far. A line that never arrived is
// excused only when drover could not have read it: some file holding a
// byte of it was deleted (after the unlink returned) before a drover
// process started (before its exec), so that this process could not open
// it; and either drover logged that file of that stream as lost, or the
// file went with its whole allocation directory (garbage collection, of
// which drover learns nothing unless it holds the files) while no drover
// process ran, during a process that was then killed with SIGKILL, or
// after the running one was sent SIGTERM (a process that stops cleanly
// reports what it held deleted and unread when it stopped reading).
// Everything else is lost.
func (k *checker) verdict(runs []run, reports []lossReport, detail bool) verdict {
	k.mu.Lock()
	chains := append([]*chain(nil), k.chains...)
	counts := make([][]uint16, len(k.counts))
	for i, cs := range k.counts {
		counts[i] = append([]uint16(nil), cs...) // observe changes them in place
	}
	v := verdict{events: k.events, fragments: k.fragOK, bad: k.bad, problems: append([]string(nil), k.probs...)}
	frags := append([]fragment(nil), k.frags...)
	k.mu.Unlock()

	starts := make([]time.Time, len(runs))
	for i, r := range runs {
		starts[i] = r.start
	}
	reported := map[string][][2]int{}
	for _, r := range reports {
		reported[r.key] = append(reported[r.key], [2]int{r.first, r.last})
	}
	isReported := func(c *chain, n int) bool {
		for _, rg := range reported[c.info.key()] {
			if n >= rg[0] && n <= rg[1] {
				return true
			}
		}
		return false
	}
	unreadable := func(f fileRec) bool {
		if f.deleted.IsZero() {
			return false
		}
		for _, s := range starts {
			if s.After(f.deleted) {
				return true
			}
		}
		return false
	}
	// silentGC: a file that went with its allocation directory while no
	// process read: none ran, or the one running had not started its
	// pipeline yet (a process that is still starting holds nothing), or
	// was killed, or was stopping (after SIGTERM it reads no more, and
	// what it did not hold deleted then is not its loss to report).
	silentGC := func(f fileRec) bool {
		for _, r := range runs {
			if !f.deleted.Before(r.start) && (r.end.IsZero() || f.deleted.Before(r.end)) {
				return r.killed || r.ready.IsZero() || f.deleted.Before(r.ready) ||
					!r.stopping.IsZero() && !f.deleted.Before(r.stopping)
			}
		}
		return true
	}
	lostFile := func(c *chain, n int) bool {
		f := c.file(n)
		return unreadable(f) && (isReported(c, n) || f.gc && silentGC(f))
	}
	for _, fr := range frags {
		ok := false
		for _, p := range fr.pieces {
			if (p.lostBefore < 0 || lostFile(fr.c, p.lostBefore)) && (p.lostAt < 0 || lostFile(fr.c, p.lostAt)) {
				ok = true
				break
			}
		}
		if !ok {
			v.bad++
			if len(v.problems) < maxProblems {
				p := fr.pieces[0]
				v.problems = append(v.problems, fmt.Sprintf("stream %s: a piece of line %d (head %v), split across files, arrived alone, although the files around it were not lost (file before it %d lost %v, file after it %d lost %v; starts %v)",
					fr.c.info.key(), p.seq, p.head, p.lostBefore, p.lostBefore >= 0 && lostFile(fr.c, p.lostBefore),
					p.lostAt, p.lostAt >= 0 && lostFile(fr.c, p.lostAt), timesOf(starts)))
			}
		}
	}
	for idx, c := range chains {
		if c == nil {
			continue
		}
		_, done := c.progress()
		v.written += done
		var cs []uint16
		if idx < len(counts) {
			cs = counts[idx]
		}
		for seq := 0; seq < done; seq++ {
			n := 0
			if seq < len(cs) {
				n = int(cs[seq])
			}
			if n > 0 {
				v.delivered++
				v.duplicates += n - 1
				continue
			}
			why := ""
			for _, fn := range c.filesOf(seq) {
				f := c.file(fn)
				switch {
				case !unreadable(f):
				case isReported(c, fn) && why == "":
					why = "purged"
				case f.gc && silentGC(f):
					why = "gc"
				}
			}
			if detail && why != "" {
				if v.excusedBy == nil {
					v.excusedBy = map[string]int{}
				}
				when := "while drover ran"
				if fs := c.filesOf(seq); len(fs) > 0 && !runningAt(runs, c.file(fs[len(fs)-1]).deleted) {
					when = "while drover was down"
				}
				v.excusedBy[fmt.Sprintf("%s %s %s (%d KiB x %d)", c.info.key(), why, when, c.rot.maxSize>>10, c.rot.maxFiles)]++
			}
			switch why {
			case "gc":
				v.gced++
			case "purged":
				v.purged++
			default:
				v.lost++
				if detail && len(v.firstLost) < 20 {
					v.firstLost = append(v.firstLost, fmt.Sprintf("line %d.%d of %s (files %v)", idx, seq, c.info.key(), c.filesOf(seq)))
				}
			}
		}
	}
	return v
}

// lostByStream summarises the lost lines by stream, for a failure report.
func (k *checker) lostByStream(runs []run, reports []lossReport) string {
	v := k.verdict(runs, reports, true)
	sort.Strings(v.firstLost)
	return strings.Join(v.firstLost, "\n")
}

func timesOf(ts []time.Time) string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Format(time.StampMicro)
	}
	return strings.Join(out, ", ")
}

// runningAt reports whether a drover process ran at t.
func runningAt(runs []run, t time.Time) bool {
	for _, r := range runs {
		if !t.Before(r.start) && (r.end.IsZero() || t.Before(r.end)) {
			return true
		}
	}
	return false
}
