package nomadevents

import (
	"slices"
	"testing"
)

func ev(index uint64, topic, key string) *rawEvent {
	return &rawEvent{index: index, topic: []byte(topic), typ: []byte("T"), key: []byte(key)}
}

func TestIdentityTellsPartsApart(t *testing.T) {
	a := &rawEvent{topic: []byte("ab"), typ: []byte("c")}
	b := &rawEvent{topic: []byte("a"), typ: []byte("bc")}
	if identity(a) == identity(b) {
		t.Fatal("the parts are not separated")
	}
	if identity(ev(1, "Job", "x")) != identity(ev(2, "Job", "x")) {
		t.Fatal("the index must not be part of the identity")
	}
}

// A stream resumed at the cursor's index repeats that index; only what the
// cursor says was delivered is dropped, counting repeats (Nomad publishes
// the same object twice at one index, e.g. JobRegistered at 34).
func TestGateDropsWhatTheCursorDelivered(t *testing.T) {
	j := identity(ev(34, "Job", "sleeper"))
	e := identity(ev(34, "Evaluation", "e1"))
	g := newGate(Cursor{Index: 34, Seen: []uint64{j}, Exact: true})
	if v := g.check(34); v != streamOK {
		t.Fatalf("verdict %v", v)
	}
	// Replay of index 34: Job (delivered), Job again (not delivered), Eval.
	got := []bool{g.accept(34, j), g.accept(34, j), g.accept(34, e), g.accept(35, e)}
	if !slices.Equal(got, []bool{false, true, true, true}) {
		t.Fatalf("accepted %v", got)
	}
	if p := g.position(); p.Index != 35 || !p.Exact || len(p.Seen) != 1 {
		t.Fatalf("position %+v", p)
	}
	if g.accept(34, e) || g.accept(12, j) {
		t.Fatal("accepted an older index")
	}
}

func TestGatePositionsStayValid(t *testing.T) {
	g := newGate(Cursor{})
	g.accept(5, 1)
	p1 := g.position()
	g.accept(5, 2)
	g.accept(5, 3)
	p2 := g.position()
	if !slices.Equal(p1.Seen, []uint64{1}) || !slices.Equal(p2.Seen, []uint64{1, 2, 3}) {
		t.Fatalf("positions %+v %+v", p1, p2)
	}
	// A second gate from p2 does not write into the first one's array.
	g2 := newGate(p2)
	g2.accept(5, 9)
	g.accept(5, 4)
	if !slices.Equal(g2.position().Seen, []uint64{1, 2, 3, 9}) {
		t.Fatalf("second gate %+v", g2.position())
	}
}

func TestGateVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cursor Cursor
		frames []uint64
		want   []verdict
	}{
		{"exact resume", Cursor{Index: 40, Exact: true}, []uint64{40, 41}, []verdict{streamOK, streamOK}},
		{"aged out", Cursor{Index: 20, Exact: true}, []uint64{45, 46}, []verdict{streamGap, streamOK}},
		{"dev restart or rebuilding buffer", Cursor{Index: 86, Exact: true}, []uint64{10}, []verdict{streamBehind}},
		{"start_at now past the newest", Cursor{Index: 58}, []uint64{57, 58}, []verdict{streamOK, streamOK}},
		{"start_at index", Cursor{Index: 20}, []uint64{45}, []verdict{streamOK}},
		{"backwards within a connection", Cursor{}, []uint64{30, 31, 9}, []verdict{streamOK, streamOK, streamRegression}},
		{"same index twice", Cursor{}, []uint64{12, 12}, []verdict{streamOK, streamOK}},
	} {
		g := newGate(tc.cursor)
		for i, idx := range tc.frames {
			if v := g.check(idx); v != tc.want[i] {
				t.Errorf("%s: frame %d (index %d): verdict %v, want %v", tc.name, i, idx, v, tc.want[i])
			}
		}
	}
}
