package vector

import (
	"slices"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/discovery/nomad"
)

func group(id string, terminal, gone bool, targets int) *nomad.Group {
	g := &nomad.Group{AllocID: id, Terminal: terminal, Gone: gone}
	for i := 0; i < targets; i++ {
		g.Targets = append(g.Targets, nomad.Target{AllocID: id, Task: "t", Stream: nomad.Stdout})
	}
	return g
}

func tomlFile(id, data string) File {
	return File{Name: testNames().AllocFile(id, FormatTOML), Data: []byte(data)}
}

func planKeys(p Plan) (write, keep []string) {
	for k := range p.Write {
		write = append(write, k)
	}
	for k := range p.Keep {
		keep = append(keep, k)
	}
	slices.Sort(write)
	slices.Sort(keep)
	return write, keep
}

func TestTrackerGrace(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	grace := time.Minute
	tr := newTracker(grace)

	tr.update(group(idA, false, false, 2), tomlFile(idA, "v1"), true, t0)
	if _, ok := tr.next(); ok {
		t.Fatal("a running allocation has a deadline")
	}
	// Terminal: the deadline is set once; later groups do not move it.
	tr.update(group(idA, true, false, 2), tomlFile(idA, "v2"), true, t0.Add(time.Second))
	tr.update(group(idA, true, false, 2), tomlFile(idA, "v3"), true, t0.Add(30*time.Second))
	tr.update(group(idA, false, true, 0), File{}, false, t0.Add(40*time.Second)) // garbage collected
	if next, ok := tr.next(); !ok || !next.Equal(t0.Add(time.Second+grace)) {
		t.Fatalf("deadline %v %v", next, ok)
	}
	if w, _ := planKeys(tr.plan(nil)); !slices.Equal(w, []string{idA}) || string(tr.plan(nil).Write[idA].Data) != "v3" {
		t.Fatalf("during the grace period the last file stays: %v", w)
	}
	if got := tr.expire(t0.Add(time.Second + grace - 1)); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	if got := tr.expire(t0.Add(time.Second + grace)); !slices.Equal(got, []string{idA}) {
		t.Fatalf("expired: %v", got)
	}
	if w, k := planKeys(tr.plan(nil)); len(w)+len(k) != 0 {
		t.Fatalf("after the grace period: %v %v", w, k)
	}
}

func TestTrackerTransitions(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	tr := newTracker(time.Minute)

	// Gone without having been terminal: the grace starts now.
	tr.update(group(idA, false, false, 2), tomlFile(idA, "a"), true, t0)
	tr.update(group(idA, false, true, 0), File{}, false, t0.Add(time.Second))
	if next, _ := tr.next(); !next.Equal(t0.Add(time.Second + time.Minute)) {
		t.Errorf("gone deadline %v", next)
	}
	// Running again (a terminal status that went back): no deadline.
	tr.update(group(idA, false, false, 2), tomlFile(idA, "a"), true, t0.Add(2*time.Second))
	if _, ok := tr.next(); ok {
		t.Error("running again still has a deadline")
	}
	// No longer selected: dropped at once.
	tr.update(group(idA, false, false, 0), File{}, false, t0.Add(3*time.Second))
	if w, k := planKeys(tr.plan(nil)); len(w)+len(k) != 0 {
		t.Errorf("unselected allocation still planned: %v %v", w, k)
	}
	// A gone group for an allocation never seen changes nothing.
	tr.update(group(idB, false, true, 0), File{}, false, t0)
	if len(tr.allocs) != 0 {
		t.Errorf("tracked %v", tr.allocs)
	}
	// A failed render keeps the last file; before any success, the file
	// on disk is kept as it is.
	tr.update(group(idA, false, false, 2), tomlFile(idA, "good"), true, t0)
	tr.update(group(idA, false, false, 2), File{}, false, t0)
	tr.update(group(idB, false, false, 2), File{}, false, t0)
	p := tr.plan(nil)
	if w, k := planKeys(p); !slices.Equal(w, []string{idA}) || !slices.Equal(k, []string{idB}) || string(p.Write[idA].Data) != "good" {
		t.Errorf("plan after failed renders: %v %v", w, k)
	}
}

func TestTrackerAdopt(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	tr := newTracker(time.Minute)
	tr.update(group(idA, false, false, 2), tomlFile(idA, "a"), true, t0)
	// Files found at start: the listed allocation keeps its state, the
	// other one is kept unchanged until the grace ends.
	tr.adopt([]string{idA, idB}, t0)
	p := tr.plan(nil)
	if w, k := planKeys(p); !slices.Equal(w, []string{idA}) || !slices.Equal(k, []string{idB}) {
		t.Fatalf("plan %v %v", w, k)
	}
	if got := tr.expire(t0.Add(time.Minute)); !slices.Equal(got, []string{idB}) {
		t.Errorf("expired %v", got)
	}
}
