package chaos

import (
	"testing"
	"time"
)

// TestCheckerPiecesOfLinesAcrossManyFiles checks the checker's model of a
// line that logmon split across three or more files: each run of
// readable files yields one piece (the head flagged partial, a piece from
// the middle flagged partial, the rest not flagged), accepted only when
// the files around it are lost, and nothing else is taken for a piece.
func TestCheckerPiecesOfLinesAcrossManyFiles(t *testing.T) {
	const seed = 42
	info := &streamInfo{index: 0, allocID: "a1", namespace: "default", job: "j", task: "main", stream: "stdout", dir: t.TempDir()}
	c, err := newChain(info, seed, rotation{maxSize: 200, maxFiles: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	// Lines 0..199; some are longer than max_line_bytes, so they span
	// many 200-byte files.
	if err := c.writeLines(200, nil, nil); err != nil {
		t.Fatal(err)
	}
	k := newChecker(seed, "node")
	k.add(c)
	splits := splitLines(c)
	seq, cuts := -1, []cut(nil)
	for line, cs := range splits {
		if len(cs) >= 3 && (seq < 0 || line < seq) {
			seq, cuts = line, cs
		}
	}
	if seq < 0 {
		t.Fatal("no line spans four files or more")
	}
	raw := appendLine(nil, seed, 0, seq)
	end := len(raw) - 1
	rec := func(from, to int, partial bool) *record {
		e := expect(raw[from:to])
		r := &record{Message: &e.message, Truncated: e.truncated, Partial: partial,
			SourceType: "nomad_logs", Stream: "stdout"}
		r.Nomad.AllocID, r.Nomad.TaskName, r.Nomad.Namespace, r.Nomad.JobName, r.Nomad.NodeID = "a1", "main", "default", "j", "node"
		return r
	}
	// The head up to the second cut (files before cuts[1].n read, that one
	// lost), a middle piece (file cuts[1].n alone, with the files on both
	// sides lost), the rest from the last cut.
	k.observe(rec(0, cuts[1].off, true))
	k.observe(rec(cuts[1].off, cuts[2].off, true))
	k.observe(rec(cuts[len(cuts)-1].off, end, false))
	if k.bad != 0 || k.fragOK != 3 {
		t.Fatalf("pieces not recognised: bad=%d fragments=%d problems=%v", k.bad, k.fragOK, k.probs)
	}
	want := [][2]int{{-1, cuts[1].n}, {cuts[1].n - 1, cuts[2].n}, {cuts[len(cuts)-1].n - 1, -1}}
	for i, fr := range k.frags {
		found := false
		for _, p := range fr.pieces {
			found = found || p.seq == seq && p.lostBefore == want[i][0] && p.lostAt == want[i][1]
		}
		if !found {
			t.Errorf("piece %d: %+v, want one with lost files %v", i, fr.pieces, want[i])
		}
	}

	// Not pieces: a piece that should be flagged partial and is not, the
	// bytes of a piece off by one, a piece that ends mid-file.
	k2 := newChecker(seed, "node")
	k2.add(c)
	k2.observe(rec(cuts[1].off, cuts[2].off, false))
	k2.observe(rec(cuts[1].off+1, cuts[2].off, true))
	k2.observe(rec(cuts[1].off, cuts[2].off-1, true))
	if k2.bad != 3 {
		t.Fatalf("bad = %d, want 3 (problems %v)", k2.bad, k2.probs)
	}

	// The verdict accepts a piece only when the files around it are lost.
	runs := []run{{start: time.Now().Add(-time.Hour), end: time.Now().Add(-time.Minute), killed: true}}
	if v := k.verdict(runs, nil, false); v.bad != 3 {
		t.Fatalf("verdict with no file lost: bad = %d, want 3", v.bad)
	}
	c.gc(time.Now())
	runs = append(runs, run{start: time.Now().Add(time.Millisecond)})
	if v := k.verdict(runs, nil, false); v.bad != 0 {
		t.Fatalf("verdict with every file collected while drover was down: bad = %d, problems %v", v.bad, v.problems)
	}
}
