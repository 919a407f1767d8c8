// Package sourcetest is the conformance suite every source with a
// checkpoint runs: at least once across restarts and crashes, for the
// records of any origin, and for file-based sources the ways files
// rotate, are truncated and are deleted. It checks the component.Source
// contract against an origin the source's test controls (a World):
//
//   - Delivers: every record arrives exactly once, the records of each
//     stream in order, each batch's Ack released once by the suite; Close
//     returns once they are acknowledged.
//   - RestartResumes: after a clean stop, a new source over the same data
//     directory delivers what was written since, and nothing again.
//   - CrashBeforeAck: records read but not acknowledged when the process
//     dies (Run ends, Close never runs: kill -9) are delivered again by
//     the next process; nothing is lost.
//   - FailedAckIsReadAgain: records whose Ack failed are delivered again
//     after a restart, and nothing after them is skipped.
//
// For file-based sources (World.Files not nil), also:
//
//   - Rotation/<name>: for every way the world's writer rotates its files
//     (logmon's numbered files; logrotate's rename and create, and
//     copytruncate), records written before and after several rotations
//     arrive exactly once, in order.
//   - Truncation: a file truncated in place is read again from its start:
//     what is written after the truncation arrives.
//   - DeletedWhileOpen: a file deleted while the source holds it unread
//     (behind a blocked sink) is read to its end through its descriptor.
//   - SplitLine: a line the writer cut across two files arrives whole
//     (writers that cut lines only).
//   - BudgetSmallerThanFiles: with max_open_files smaller than the number
//     of streams, every record arrives once, also records written to files
//     that were closed meanwhile.
//
// A Kubernetes source runs it with a World that writes the kubelet's
// files.
package sourcetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

// Harness describes the source under test.
type Harness struct {
	// NewWorld makes the origin of one check: where records come from,
	// and how the source is built over it. Resources are released with
	// t.Cleanup.
	NewWorld func(t *testing.T) World
}

// World is the origin of a source's records, and the source's builder.
type World interface {
	// Streams is the number of independent streams the world writes
	// (files, task streams; 1 for a journal or an event stream).
	Streams() int
	// NewSource builds the source. Every source of one World uses the same
	// data directory: a new one resumes from the checkpoint the previous
	// one saved. It must save its checkpoint and look for new records
	// often (every few tens of milliseconds).
	NewSource(t *testing.T, m *metrics.Component) component.Source
	// Append makes stream i write the records, in order; each record is a
	// distinct text without '\n'.
	Append(t *testing.T, stream int, records []string)
	// Record says which stream an event belongs to and which record it
	// carries; ok is false for an event the world did not write (a check
	// fails on it).
	Record(e *event.Event) (stream int, record string, ok bool)
	// Files is nil for sources that do not read files.
	Files() *Files
}

// Crasher is implemented by a World whose sources outlive the end of
// their Run in a way a killed process does not (a Kafka group member keeps
// its partitions while its client is open): Crash ends such a source as
// kill -9 would, without saving anything that was not acknowledged.
type Crasher interface {
	Crash(t *testing.T, src component.Source)
}

// Files are the operations of a world made of files.
type Files struct {
	// Rotations are the ways the world's writer rotates a stream's files.
	Rotations []Rotation
	// Truncate empties stream i's current file in place; nil when the
	// world cannot.
	Truncate func(t *testing.T, stream int)
	// Delete deletes stream i's files (garbage collection of an
	// allocation, a file removed).
	Delete func(t *testing.T, stream int)
	// SplitLine writes the record as one line cut after at bytes, the
	// head at the end of stream i's current file and the rest at the start
	// of the next one; nil for writers that never cut lines.
	SplitLine func(t *testing.T, stream int, record string, at int)
	// SetMaxOpenFiles makes the sources built from now on keep at most n
	// files open.
	SetMaxOpenFiles func(n int)
}

// Rotation is one way a writer rotates a stream's files.
type Rotation struct {
	Name   string
	Rotate func(t *testing.T, stream int)
	// ReadFirst: a file rotated away before the source opened it is out of
	// its reach (renamed out of the patterns): the check lets the source
	// read each round before it rotates. Without it, rotations also come
	// before the source read anything (logmon's numbered files stay).
	ReadFirst bool
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Run("Delivers", func(t *testing.T) { delivers(t, h) })
	t.Run("RestartResumes", func(t *testing.T) { restartResumes(t, h) })
	t.Run("CrashBeforeAck", func(t *testing.T) { crashBeforeAck(t, h) })
	t.Run("FailedAckIsReadAgain", func(t *testing.T) { failedAckIsReadAgain(t, h) })
	probe := h.NewWorld(t)
	fs := probe.Files()
	if fs == nil {
		return
	}
	for _, r := range fs.Rotations {
		t.Run("Rotation/"+r.Name, func(t *testing.T) { rotation(t, h, r.Name) })
	}
	t.Run("Truncation", func(t *testing.T) {
		if fs.Truncate == nil {
			t.Skip("the world cannot truncate a file")
		}
		truncation(t, h)
	})
	t.Run("DeletedWhileOpen", func(t *testing.T) { deletedWhileOpen(t, h) })
	t.Run("SplitLine", func(t *testing.T) {
		if fs.SplitLine == nil {
			t.Skip("the writer never cuts lines")
		}
		splitLine(t, h)
	})
	t.Run("BudgetSmallerThanFiles", func(t *testing.T) { budget(t, h) })
}

// deadline bounds every wait of the suite.
const deadline = 30 * time.Second

// recorder is the Emitter of the checks: it records every event with its
// stream and record, acknowledges each batch at once unless hold is set,
// and blocks Emit while blocked.
type recorder struct {
	t     *testing.T
	w     World
	mu    sync.Mutex
	got   []got
	count map[string]int
	hold  bool
	held  []*event.Ack
	block chan struct{}
}

type got struct {
	stream int
	record string
}

func newRecorder(t *testing.T, w World) *recorder {
	return &recorder{t: t, w: w, count: map[string]int{}}
}

func (r *recorder) Emit(ctx context.Context, b *event.Batch) error {
	r.mu.Lock()
	block := r.block
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.Ack.Retain(1)
	r.mu.Lock()
	for i := range b.Events {
		e := &b.Events[i]
		if e.Meta == nil {
			r.t.Errorf("event without metadata: %q", e.Message)
		}
		s, rec, ok := r.w.Record(e)
		if !ok {
			r.t.Errorf("an event the world did not write: %q", e.Message)
			continue
		}
		r.got = append(r.got, got{stream: s, record: rec})
		r.count[rec]++
	}
	hold := r.hold
	if hold {
		r.held = append(r.held, b.Ack)
	}
	r.mu.Unlock()
	if !hold {
		b.Ack.Release(event.Delivered)
	}
	return nil
}

// setHold makes the recorder keep the Acks from now on (or not).
func (r *recorder) setHold(on bool) {
	r.mu.Lock()
	r.hold = on
	r.mu.Unlock()
}

// release releases the held Acks with status.
func (r *recorder) release(status event.Status) {
	r.mu.Lock()
	held := r.held
	r.held, r.hold = nil, false
	r.mu.Unlock()
	for _, a := range held {
		a.Release(status)
	}
}

// setBlocked makes Emit wait (or not).
func (r *recorder) setBlocked(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case on && r.block == nil:
		r.block = make(chan struct{})
	case !on && r.block != nil:
		close(r.block)
		r.block = nil
	}
}

func (r *recorder) n(rec string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[rec]
}

func (r *recorder) hasAll(recs []string, n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range recs {
		if r.count[x] < n {
			return false
		}
	}
	return true
}

// wait waits until every record arrived.
func (r *recorder) wait(what string, recs []string) {
	r.t.Helper()
	r.waitN(what, recs, 1)
}

// waitAgain waits until every record arrived a second time.
func (r *recorder) waitAgain(what string, recs []string) {
	r.t.Helper()
	r.waitN(what+" again", recs, 2)
}

// waitN waits until every record arrived n times.
func (r *recorder) waitN(what string, recs []string, n int) {
	r.t.Helper()
	end := time.Now().Add(deadline)
	for !r.hasAll(recs, n) {
		if time.Now().After(end) {
			var missing []string
			for _, x := range recs {
				if r.n(x) < n {
					missing = append(missing, x)
				}
			}
			r.t.Fatalf("%s: %d of %d records missing after %s: %s", what, len(missing), len(recs), deadline, clip(missing))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exactlyOnce checks that every record arrived exactly once.
func (r *recorder) exactlyOnce(recs []string) {
	r.t.Helper()
	for _, x := range recs {
		if n := r.n(x); n != 1 {
			r.t.Errorf("record %q arrived %d times", x, n)
		}
	}
}

// inOrder checks that the first arrivals of each stream's records follow
// the order they were written.
func (r *recorder) inOrder(streams map[int][]string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for s, recs := range streams {
		pos := make(map[string]int, len(recs))
		for i, x := range recs {
			pos[x] = i
		}
		next := 0
		seen := map[string]bool{}
		for _, g := range r.got {
			i, ok := pos[g.record]
			if g.stream != s || !ok || seen[g.record] {
				continue
			}
			seen[g.record] = true
			if i != next {
				r.t.Errorf("stream %d: record %q arrived at place %d, written at %d", s, g.record, next, i)
				return
			}
			next++
		}
	}
}

func clip(s []string) string {
	if len(s) > 6 {
		return fmt.Sprintf("%q ... (%d more)", s[:6], len(s)-6)
	}
	return fmt.Sprintf("%q", s)
}

// running is one source running under a check.
type running struct {
	t      *testing.T
	src    component.Source
	m      *metrics.Component
	cancel context.CancelFunc
	done   chan error
}

// start builds a source of w and runs it into rec.
func start(t *testing.T, w World, rec *recorder) *running {
	t.Helper()
	m := metrics.ForTest("source", "sourcetest", t.Name())
	r := &running{t: t, src: w.NewSource(t, m), m: m, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.src.Run(ctx, rec) }()
	t.Cleanup(func() {
		if r.cancel != nil {
			r.stop()
		}
	})
	return r
}

// crash ends Run without Close: no final save, no acknowledgement waited
// for, as when the process is killed.
func (r *running) crash() {
	r.t.Helper()
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
	case <-time.After(deadline):
		r.t.Fatalf("Run did not return within %s after its context ended", deadline)
	}
}

// stop ends Run and closes the source, waiting for the acknowledgements.
func (r *running) stop() {
	r.t.Helper()
	r.crash()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.src.Close(ctx); err != nil {
		r.t.Errorf("Close: %v", err)
	}
}

// records returns n distinct records of a stream, with a tag.
func records(tag string, stream, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-s%d-%04d %s", tag, stream, i, strings.Repeat("x", i%17))
	}
	return out
}

// appendAll writes n records with the tag to every stream and returns
// them, all and by stream.
func appendAll(t *testing.T, w World, tag string, n int) ([]string, map[int][]string) {
	t.Helper()
	var all []string
	by := map[int][]string{}
	for s := 0; s < w.Streams(); s++ {
		recs := records(tag, s, n)
		w.Append(t, s, recs)
		all = append(all, recs...)
		by[s] = recs
	}
	return all, by
}

// setup starts a check: a fresh world and its recorder, and a check that
// the source leaves no goroutine behind.
func setup(t *testing.T, h Harness) (World, *recorder) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	w := h.NewWorld(t)
	return w, newRecorder(t, w)
}

// each applies op to every stream of w.
func each(t *testing.T, w World, op func(*testing.T, int)) {
	for s := 0; s < w.Streams(); s++ {
		op(t, s)
	}
}

func delivers(t *testing.T, h Harness) {
	w, rec := setup(t, h)
	before, byBefore := appendAll(t, w, "before", 20)
	r := start(t, w, rec)
	rec.wait("the records written before the start", before)
	after, byAfter := appendAll(t, w, "after", 30)
	rec.wait("the records written while the source runs", after)
	r.stop()
	rec.exactlyOnce(append(before, after...))
	for s := range byAfter {
		byBefore[s] = append(byBefore[s], byAfter[s]...)
	}
	rec.inOrder(byBefore)
}

func restartResumes(t *testing.T, h Harness) {
	w, rec := setup(t, h)
	first, _ := appendAll(t, w, "first", 20)
	r := start(t, w, rec)
	rec.wait("the first records", first)
	r.stop()
	down, _ := appendAll(t, w, "down", 20)
	r = start(t, w, rec)
	rec.wait("the records written while no source ran", down)
	more, _ := appendAll(t, w, "more", 10)
	rec.wait("the records written after the restart", more)
	r.stop()
	rec.exactlyOnce(append(append(first, down...), more...))
}

func crashBeforeAck(t *testing.T, h Harness) {
	w, rec := setup(t, h)
	acked, _ := appendAll(t, w, "acked", 10)
	r := start(t, w, rec)
	rec.wait("the records acknowledged", acked)
	r.stop() // saved
	rec.setHold(true)
	r = start(t, w, rec)
	unacked, _ := appendAll(t, w, "unacked", 20)
	rec.wait("the records read and not acknowledged", unacked)
	r.crash()
	if c, ok := w.(Crasher); ok {
		c.Crash(t, r.src)
	}
	// The process is gone: its Acks never come back.
	rec.mu.Lock()
	rec.held, rec.hold = nil, false
	rec.mu.Unlock()
	r = start(t, w, rec)
	rec.waitAgain("the records not acknowledged before the crash", unacked)
	r.stop()
	rec.exactlyOnce(acked)
}

func failedAckIsReadAgain(t *testing.T, h Harness) {
	w, rec := setup(t, h)
	rec.setHold(true)
	failed, _ := appendAll(t, w, "failed", 15)
	r := start(t, w, rec)
	rec.wait("the records", failed)
	rec.release(event.Failed)
	r.stop()
	r = start(t, w, rec)
	after, _ := appendAll(t, w, "after", 5)
	rec.wait("the records written after", after)
	rec.waitAgain("the records whose Ack failed", failed)
	r.stop()
	rec.exactlyOnce(after)
}

func rotation(t *testing.T, h Harness, name string) {
	w, rec := setup(t, h)
	var rot Rotation
	for _, r := range w.Files().Rotations {
		if r.Name == name {
			rot = r
		}
	}
	r := start(t, w, rec)
	all := map[int][]string{}
	var every []string
	for round := 0; round < 4; round++ {
		recs, by := appendAll(t, w, fmt.Sprintf("round%d", round), 15)
		every = append(every, recs...)
		for s, x := range by {
			all[s] = append(all[s], x...)
		}
		if round == 1 || rot.ReadFirst {
			rec.wait("the records before the next rotations", every) // read, then rotated
		}
		each(t, w, rot.Rotate)
	}
	last, by := appendAll(t, w, "last", 5)
	every = append(every, last...)
	for s, x := range by {
		all[s] = append(all[s], x...)
	}
	rec.wait("every record across the rotations", every)
	r.stop()
	rec.exactlyOnce(every)
	rec.inOrder(all)
}

func truncation(t *testing.T, h Harness) {
	w, rec := setup(t, h)
	r := start(t, w, rec)
	first, _ := appendAll(t, w, "first", 20)
	rec.wait("the records before the truncation", first)
	each(t, w, w.Files().Truncate)
	after, _ := appendAll(t, w, "after", 5)
	rec.wait("the records written after the truncation", after)
	r.stop()
	rec.exactlyOnce(first)
	rec.exactlyOnce(after)
}

func deletedWhileOpen(t *testing.T, h Harness) {
	w, rec := setup(t, h)
	r := start(t, w, rec)
	first, _ := appendAll(t, w, "first", 3)
	rec.wait("the first records (the files are open)", first)
	rec.setBlocked(true)
	held, _ := appendAll(t, w, "held", 200)
	each(t, w, w.Files().Delete)
	rec.setBlocked(false)
	rec.wait("the records of the deleted files", held)
	r.stop()
	rec.exactlyOnce(append(first, held...))
}

func splitLine(t *testing.T, h Harness) {
	w, rec := setup(t, h)
	r := start(t, w, rec)
	first, _ := appendAll(t, w, "first", 3)
	rec.wait("the first records", first)
	var split []string
	for s := 0; s < w.Streams(); s++ {
		x := fmt.Sprintf("split-s%d a line cut across two files", s)
		w.Files().SplitLine(t, s, x, 9)
		split = append(split, x)
	}
	after, _ := appendAll(t, w, "after", 3)
	rec.wait("the split lines, whole", append(split, after...))
	r.stop()
	rec.exactlyOnce(append(append(first, split...), after...))
}

func budget(t *testing.T, h Harness) {
	w, rec := setup(t, h)
	if w.Streams() < 3 {
		t.Skip("the world writes fewer than 3 streams")
	}
	w.Files().SetMaxOpenFiles(2)
	r := start(t, w, rec)
	var every []string
	for round := 0; round < 3; round++ {
		recs, _ := appendAll(t, w, fmt.Sprintf("round%d", round), 10)
		every = append(every, recs...)
		rec.wait("the records of every stream", every)
	}
	if n := testutil.ToFloat64(r.m.FilesOpen); n > 2 {
		t.Errorf("%v files open, max_open_files 2", n)
	}
	r.stop()
	rec.exactlyOnce(every)
}
