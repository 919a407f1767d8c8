package checkpoint

import (
	"math/rand/v2"
	"testing"
)

func TestWindowCommitsTheSettledPrefix(t *testing.T) {
	w := NewWindow(0)
	a := w.Push(10, false)
	w.Push(15, true) // skipped bytes: ok already
	c := w.Push(20, false)
	if w.Advance(nil) || w.Committed() != 0 {
		t.Fatalf("moved to %d with nothing settled", w.Committed())
	}
	w.Settle(c, true)
	if w.Advance(nil) || w.Committed() != 0 {
		t.Fatalf("moved to %d past the first slot", w.Committed())
	}
	var seen []int
	w.Settle(a, true)
	if !w.Advance(func(p int) { seen = append(seen, p) }) || w.Committed() != 20 || w.Pending() != 0 {
		t.Fatalf("committed %d, pending %d", w.Committed(), w.Pending())
	}
	if len(seen) != 3 || seen[0] != 10 || seen[1] != 15 || seen[2] != 20 {
		t.Fatalf("each saw %v", seen)
	}
}

func TestWindowFailedSlotHoldsUntilSettledOkOrReset(t *testing.T) {
	w := NewWindow(0)
	a := w.Push(10, false)
	b := w.Push(20, false)
	w.Settle(b, true)
	w.Settle(a, false)
	if w.Advance(nil) || !w.Failed() {
		t.Fatal("a failed slot let the position pass, or is not reported")
	}
	// Handed out again and delivered (the disk buffer's way).
	w.Settle(a, true)
	if !w.Advance(nil) || w.Committed() != 20 || w.Failed() {
		t.Fatalf("committed %d failed %v", w.Committed(), w.Failed())
	}
	// A source's way: rewind to the committed position.
	c := w.Push(30, false)
	w.Settle(c, false)
	w.Reset(w.Committed())
	if w.Failed() || w.Pending() != 0 {
		t.Fatal("Reset kept the failed slot")
	}
	if w.Settle(c, true) {
		t.Fatal("a ticket from before Reset was taken")
	}
	d := w.Push(25, false)
	w.Settle(d, true)
	w.Advance(nil)
	if w.Committed() != 25 {
		t.Fatalf("committed %d", w.Committed())
	}
}

func TestWindowRandomOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w := NewWindow(0)
	var tickets []Ticket
	for i := 1; i <= 5000; i++ {
		tickets = append(tickets, w.Push(i, false))
	}
	order := rng.Perm(len(tickets))
	max := 0
	for _, i := range order {
		w.Settle(tickets[i], true)
		w.Advance(nil)
		if w.Committed() < max {
			t.Fatal("the committed position went back")
		}
		max = w.Committed()
		// Everything up to the committed position was settled.
		if _, ok := w.First(nil); !ok && w.Committed() != 5000 {
			t.Fatal("no unsettled slot, but not everything committed")
		}
	}
	if w.Committed() != 5000 || w.Pending() != 0 || len(w.slots) != 0 {
		t.Fatalf("committed %d pending %d slots %d", w.Committed(), w.Pending(), len(w.slots))
	}
}

func TestWindowFirstUnsettled(t *testing.T) {
	w := NewWindow(0)
	a := w.Push(1, false)
	w.Push(2, false)
	w.Push(3, false)
	w.Settle(a, true)
	if p, ok := w.First(func(p int) bool { return p != 2 }); !ok || p != 3 {
		t.Fatalf("First = %d, %v", p, ok)
	}
}
