package discovery

import (
	"context"
	"testing"
	"time"
)

func newTestPending() *Pending[Group] {
	return NewPending(func(g Group) string { return g.Key }, func(g Group) bool { return !g.Gone })
}

func TestPendingSendsNothingBeforeTheFullSetAndLeavesGoneGroupsOutOfIt(t *testing.T) {
	p := newTestPending()
	p.Put([]Group{{Key: "b"}, {Key: "gone", Gone: true}}, false)
	if gs, ok := p.Take(); ok {
		t.Fatalf("took %v before the full set", gs)
	}
	p.Put([]Group{{Key: "a"}}, true)
	gs, ok := p.Take()
	if !ok || len(gs) != 2 || gs[0].Key != "a" || gs[1].Key != "b" {
		t.Fatalf("full set = %v, %v; want a, b", gs, ok)
	}
	if gs, ok := p.Take(); ok {
		t.Fatalf("took %v with nothing pending", gs)
	}
	p.Put([]Group{{Key: "a", Terminal: true}, {Key: "a", Gone: true}}, false)
	if gs, ok := p.Take(); !ok || len(gs) != 1 || !gs[0].Gone {
		t.Fatalf("after the full set = %v, %v; want the last group of a, gone", gs, ok)
	}
}

func TestPendingSendsAnEmptyFullSet(t *testing.T) {
	p := newTestPending()
	p.Put(nil, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up := make(chan []Group)
	sent := make(chan int, 1)
	go p.SendLoop(ctx, up, func(n int) { sent <- n })
	select {
	case gs := <-up:
		if len(gs) != 0 {
			t.Fatalf("full set = %v, want empty", gs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the empty full set was not sent")
	}
	if n := <-sent; n != 0 {
		t.Fatalf("sent reported %d groups", n)
	}
}
