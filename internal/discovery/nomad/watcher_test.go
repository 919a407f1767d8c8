package nomad

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/nomadtest"
)

func TestWatchFullSetThenChanges(t *testing.T) {
	srv := nomadtest.New(t)
	ids := srv.LoadFixture(nomadtest.FixtureNodeAllocations)
	h := newHarness(t, srv, nil)
	h.start()

	full := h.recv()
	if len(full) != 3 {
		t.Fatalf("full set has %d groups, want 3", len(full))
	}
	for i := 1; i < len(full); i++ {
		if full[i-1].AllocID >= full[i].AllocID {
			t.Error("groups of a send must be sorted by allocation ID")
		}
	}
	got := byID(full)
	for _, id := range ids {
		if len(got[id].Targets) != 2 {
			t.Errorf("%s: %d targets", id, len(got[id].Targets))
		}
	}
	if !got["117b2aa3-2c2e-f78c-2948-289cdcf59360"].Terminal || got["9c75b10c-c61b-8def-104e-7dab6f20befb"].Terminal {
		t.Error("terminal flags do not match the fixture")
	}

	// A new allocation.
	h.waitBlocked(srv.NodeAllocsIndex())
	id := srv.AddAlloc(nomadtest.Alloc{Namespace: "apps", Job: "api", Tasks: []nomadtest.Task{{Name: "api"}, {Name: "api-proxy"}}})
	added := h.recvOne()
	if added.AllocID != id || len(added.Targets) != 4 || added.Gone || added.Terminal {
		t.Fatalf("added group = %+v", added)
	}

	// It completes: same targets, same metadata, terminal.
	srv.SetAllocStatus(id, "complete", "stop")
	done := h.recvOne()
	if !done.Terminal || done.ClientStatus != "complete" || len(done.Targets) != 4 {
		t.Fatalf("completed group = %+v", done)
	}
	for i := range done.Targets {
		if done.Targets[i].Meta != added.Targets[i].Meta {
			t.Errorf("target %d: metadata pointer changed on a status change", i)
		}
		if done.Targets[i].TaskState != "dead" {
			t.Errorf("target %d: task state %q", i, done.Targets[i].TaskState)
		}
	}

	// Garbage collection: gone.
	srv.RemoveAlloc(id)
	gone := h.recvOne()
	if gone.AllocID != id || !gone.Gone || len(gone.Targets) != 0 {
		t.Fatalf("gone group = %+v", gone)
	}
	if v := testutil.ToFloat64(h.m.AllocationsSelected); v != 3 {
		t.Errorf("allocations gauge = %v, want 3", v)
	}
	if v := testutil.ToFloat64(h.m.Targets); v != 6 {
		t.Errorf("targets gauge = %v, want 6", v)
	}
	waitFor(t, "the index gauge", func() bool { return testutil.ToFloat64(h.m.Index) == float64(srv.NodeAllocsIndex()) })
}

func TestWatchFixtureGC(t *testing.T) {
	// The captured node went from three allocations to one (the others were
	// garbage collected, a new one ran and stopped).
	srv := nomadtest.New(t)
	before := srv.LoadFixture(nomadtest.FixtureNodeAllocations)
	h := newHarness(t, srv, nil)
	h.start()
	if n := len(h.recv()); n != 3 {
		t.Fatalf("full set: %d", n)
	}
	h.waitBlocked(srv.NodeAllocsIndex())
	for _, id := range before {
		srv.RemoveAlloc(id)
	}
	after := srv.LoadFixture(nomadtest.FixtureNodeAllocations2)
	// The changes may arrive in one send or several; collect until the
	// state is reached.
	state := map[string]Group{}
	for len(state) < 4 {
		for _, g := range h.recv() {
			state[g.AllocID] = g
		}
	}
	for _, id := range before {
		if !state[id].Gone {
			t.Errorf("%s: want gone, got %+v", id, state[id])
		}
	}
	if g := state[after[0]]; g.Gone || !g.Terminal || len(g.Targets) != 2 {
		t.Errorf("new allocation: %+v", g)
	}
}

func TestWatchEmptyFullSet(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.start()
	gs := h.recv()
	if gs == nil || len(gs) != 0 {
		t.Fatalf("full set of an empty node = %#v, want an empty non-nil slice", gs)
	}
	h.expectQuiet()
}

func TestWatchSkipsUnchangedIndex(t *testing.T) {
	h := newHarness(t, nil, nil)
	id := h.srv.AddAlloc(nomadtest.Alloc{})
	h.start()
	if g := h.recvOne(); g.AllocID != id {
		t.Fatalf("full set: %+v", g)
	}
	idx := h.srv.NodeAllocsIndex()
	timedOut := func(n int) func() bool {
		return func() bool {
			c := 0
			for _, r := range h.srv.RequestLog() {
				if r.Endpoint == nomadtest.EndpointNodeAllocations && r.Index == idx {
					c++
				}
			}
			return c >= n
		}
	}
	// Several blocking queries time out with the same index.
	waitFor(t, "three timed-out blocking queries", timedOut(4))
	// The cluster's index moves without a change of this node's
	// allocations: the node's list keeps its index.
	h.srv.Touch()
	waitFor(t, "two more timed-out blocking queries", timedOut(6))
	h.expectQuiet()
	for _, r := range h.srv.RequestLog() {
		if r.Endpoint == nomadtest.EndpointNodeAllocations && r.Index != 0 && r.Wait != 100*time.Millisecond {
			t.Errorf("blocking query wait = %s", r.Wait)
		}
	}
}

func TestWatchGCBelowHighestIndex(t *testing.T) {
	// Removing an allocation whose ModifyIndex is not the highest leaves
	// the list's index as it was: the change shows when the wait ends.
	h := newHarness(t, nil, nil)
	old := h.srv.AddAlloc(nomadtest.Alloc{})
	h.srv.AddAlloc(nomadtest.Alloc{})
	h.start()
	h.recv()
	idx := h.srv.NodeAllocsIndex()
	h.waitBlocked(idx)
	h.srv.RemoveAlloc(old)
	if got := h.srv.NodeAllocsIndex(); got != idx {
		t.Fatalf("the fake raised the index on GC: %d -> %d", idx, got)
	}
	g := h.recvOne()
	if g.AllocID != old || !g.Gone {
		t.Fatalf("group = %+v", g)
	}
	if v := testutil.ToFloat64(h.m.IndexResets); v != 0 {
		t.Errorf("index resets = %v", v)
	}
}

func TestWatchIndexBackwards(t *testing.T) {
	h := newHarness(t, nil, nil)
	id := h.srv.AddAlloc(nomadtest.Alloc{})
	h.start()
	h.recvOne()
	idx := h.srv.NodeAllocsIndex()
	h.waitBlocked(idx)
	fullReads := countFull(h.srv)

	h.srv.SetIndex(idx - 1) // a restored cluster
	waitFor(t, "a full read after the reset", func() bool { return countFull(h.srv) > fullReads })
	waitFor(t, "the index reset metric", func() bool { return testutil.ToFloat64(h.m.IndexResets) == 1 })
	h.waitBlocked(idx - 1)
	h.expectQuiet() // same allocations: nothing to report

	// The restored cluster changes the allocation: reported.
	h.srv.SetAllocStatus(id, "complete", "run")
	for {
		g := h.recvOne()
		if g.AllocID == id {
			if !g.Terminal {
				t.Errorf("want terminal: %+v", g)
			}
			break
		}
	}
	if n := h.logs.count("index went backwards"); n != 1 {
		t.Errorf("reset logged %d times", n)
	}
}

func countFull(srv *nomadtest.Server) int {
	n := 0
	for _, r := range srv.RequestLog() {
		if r.Endpoint == nomadtest.EndpointNodeAllocations && r.Index == 0 {
			n++
		}
	}
	return n
}

func TestWatchServerErrorBackoffAndRecovery(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.start()
	h.recv()
	h.waitBlocked(h.srv.NodeAllocsIndex())
	base := h.srv.Requests(nomadtest.EndpointNodeAllocations) // the wait in flight
	h.srv.Fail(nomadtest.EndpointNodeAllocations, 500, 2)
	h.srv.Fail(nomadtest.EndpointNodeAllocations, 403, 1)
	h.srv.Fail(nomadtest.EndpointNodeAllocations, 500, 1)
	// When the wait in flight ends: four failures, a full read, a wait.
	waitFor(t, "four failures and the recovery", func() bool {
		return h.srv.Requests(nomadtest.EndpointNodeAllocations) >= base+6 && h.srv.Blocking() == 1
	})
	if v := testutil.ToFloat64(h.m.APIErrors(KindServer)); v != 3 {
		t.Errorf("server errors = %v, want 3", v)
	}
	if v := testutil.ToFloat64(h.m.APIErrors(KindForbidden)); v != 1 {
		t.Errorf("forbidden errors = %v, want 1", v)
	}
	// One streak: a warning when it starts and when its kind changes, the
	// repeats at debug level, and one line when it ends.
	if n := h.logs.count("level=WARN", "failed; retrying"); n != 3 {
		t.Errorf("%d warnings for one failure streak changing kind twice:\n%s", n, h.logs)
	}
	if n := h.logs.count("level=DEBUG", "failed; retrying"); n != 1 {
		t.Errorf("%d debug lines for the repeated failure:\n%s", n, h.logs)
	}
	if n := h.logs.count("level=INFO", "works again", "failures=4"); n != 1 {
		t.Errorf("recovery logged %d times:\n%s", n, h.logs)
	}
	// After a failure the watch reads the whole list again.
	log := h.srv.RequestLog()
	if r := log[len(log)-2]; r.Index != 0 {
		t.Errorf("request after the failures = %+v, want a full read", r)
	}
	h.expectQuiet()
}

func TestWatchBackoffGrows(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) {
		c.RetryInitialBackoff = 20 * time.Millisecond
		c.RetryMaxBackoff = 80 * time.Millisecond
	})
	h.srv.Fail(nomadtest.EndpointNodeAllocations, 503, 5)
	start := time.Now()
	h.start()
	h.recv()
	// Waits: [10,20] + [20,40] + [40,80] + [40,80] + [40,80] ms >= 150ms.
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("five failures recovered after %s: backoff too short", d)
	}
	// Five failures, the list, and perhaps already the blocking query that
	// follows it.
	if n := h.srv.Requests(nomadtest.EndpointNodeAllocations); n != 6 && n != 7 {
		t.Errorf("requests = %d, want 6 (and the next blocking query)", n)
	}
}

func TestWatchForbiddenAtStart(t *testing.T) {
	cases := []struct {
		ep      nomadtest.Endpoint
		body    string
		message string
	}{
		{nomadtest.EndpointAgentSelf, "", "needs the ACL capability agent:read"},
		{nomadtest.EndpointNode, "", "needs the ACL capability node:read"},
		{nomadtest.EndpointNodeAllocations, "", "needs the ACL capability node:read (and namespace read-job"},
		{nomadtest.EndpointNodeAllocations, "ACL token not found", "token is unknown or expired"},
	}
	for _, c := range cases {
		t.Run(string(c.ep), func(t *testing.T) {
			h := newHarness(t, nil, nil)
			h.srv.InjectFault(c.ep, nomadtest.Fault{Status: 403, Body: c.body}, 0)
			err := h.w.Run(context.Background(), h.up)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Kind != KindForbidden || ae.Status != 403 {
				t.Fatalf("err = %v, want a 403 *APIError", err)
			}
			if !strings.Contains(err.Error(), c.message) {
				t.Errorf("message %q does not say %q", err, c.message)
			}
			if n := testutil.ToFloat64(h.m.APIErrors(KindForbidden)); n != 1 {
				t.Errorf("forbidden errors = %v", n)
			}
		})
	}
}

func TestWatchForbiddenLaterIsRetried(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.start()
	h.recv()
	h.waitBlocked(h.srv.NodeAllocsIndex())
	h.srv.Fail(nomadtest.EndpointNodeAllocations, 403, 2)
	h.srv.DropBlocking()
	h.expectQuiet()
	if n := h.logs.count("level=WARN", "agent:read"); n != 0 {
		t.Errorf("wrong capability logged:\n%s", h.logs)
	}
	if n := h.logs.count("level=WARN", "node:read"); n != 1 {
		t.Errorf("403 logged %d times:\n%s", n, h.logs)
	}
}

func TestWatchDroppedConnection(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.start()
	h.recv()
	idx := h.srv.NodeAllocsIndex()
	h.waitBlocked(idx)
	// Go's transport retries a GET once, unseen, when a reused connection
	// closes before any answer; the second cut is seen.
	h.srv.DropBlocking()
	waitFor(t, "the retried blocking query", func() bool {
		return h.srv.Blocking() == 1 && h.srv.Requests(nomadtest.EndpointNodeAllocations) >= 3
	})
	h.srv.DropBlocking()
	waitFor(t, "the dropped connection to count", func() bool {
		return testutil.ToFloat64(h.m.APIErrors(KindUnreachable)) == 1
	})
	h.expectQuiet()
}

func TestWatchTruncatedAnswer(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.start()
	h.recv()
	h.waitBlocked(h.srv.NodeAllocsIndex())
	h.srv.InjectFault(nomadtest.EndpointNodeAllocations, nomadtest.Fault{Truncate: true}, 1)
	waitFor(t, "the truncated list to count", func() bool {
		return testutil.ToFloat64(h.m.APIErrors(KindUnreachable)) == 1
	})
	h.expectQuiet()
}

func TestWatchAgentDownAndBack(t *testing.T) {
	h := newHarness(t, nil, nil)
	id := h.srv.AddAlloc(nomadtest.Alloc{})
	h.start()
	h.recvOne()
	h.waitBlocked(h.srv.NodeAllocsIndex())
	h.srv.Down()
	waitFor(t, "failed requests while the agent is down", func() bool {
		return testutil.ToFloat64(h.m.APIErrors(KindUnreachable)) >= 3
	})
	h.srv.Up()
	h.srv.SetAllocStatus(id, "failed", "run")
	g := h.recvOne()
	if g.AllocID != id || !g.Terminal {
		t.Errorf("after the agent came back: %+v", g)
	}
	if n := h.logs.count("level=WARN", "not reachable"); n != 1 {
		t.Errorf("unreachable agent logged %d times:\n%s", n, h.logs)
	}
}

func TestWatchAgentUnreachableAtStart(t *testing.T) {
	srv := nomadtest.New(t)
	id := srv.AddAlloc(nomadtest.Alloc{})
	srv.Down()
	h := newHarness(t, srv, nil)
	h.start()
	waitFor(t, "resolution attempts", func() bool { return testutil.ToFloat64(h.m.APIErrors(KindUnreachable)) >= 2 })
	if n, ok := h.w.Node(); ok || n.ID != "" {
		t.Errorf("node resolved while the agent is down: %+v", n)
	}
	srv.Up()
	if g := h.recvOne(); g.AllocID != id {
		t.Errorf("full set: %+v", g)
	}
	if n, ok := h.w.Node(); !ok || n.ID != nomadtest.FixtureNodeID || n.AllocDir != nomadtest.FixtureDataDir+"/alloc" {
		t.Errorf("node = %+v, %v", n, ok)
	}
}

func TestWatchResync(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) {
		c.BlockingWait = time.Minute
		c.ResyncInterval = time.Second
	})
	h.srv.AddAlloc(nomadtest.Alloc{})
	h.start()
	h.recv()
	waitFor(t, "two resyncs", func() bool { return testutil.ToFloat64(h.m.Resyncs) >= 2 })
	// The blocking waits were cut short to keep the resyncs on time, and a
	// resync that finds nothing new sends nothing.
	for _, r := range h.srv.RequestLog() {
		if r.Index != 0 && r.Wait > time.Second {
			t.Errorf("blocking wait %s beyond the resync interval", r.Wait)
		}
	}
	if n := countFull(h.srv); n < 3 {
		t.Errorf("full reads = %d, want the first and two resyncs", n)
	}
	if v := testutil.ToFloat64(h.m.ResyncCorrections); v != 0 {
		t.Errorf("resync corrections = %v", v)
	}
	h.expectQuiet()
}

func TestResyncCorrections(t *testing.T) {
	// A resync that finds what the blocking queries missed reports it and
	// counts it.
	h := newHarness(t, nil, nil)
	specs := []nomadtest.Alloc{{ID: nomadtest.NewID()}, {ID: nomadtest.NewID()}, {ID: nomadtest.NewID()}}
	before := decodeAllocs(t, nomadtest.ListJSON(5, specs...))
	specs[0].ClientStatus = "complete"
	after := decodeAllocs(t, nomadtest.ListJSON(6, specs[0], specs[1]))
	p := newPending()
	h.w.apply(fixtureNode, before, false, true, p)
	if gs, ok := p.Take(); !ok || len(gs) != 3 {
		t.Fatalf("full set: %d groups", len(gs))
	}
	after[1].ModifyIndex = before[1].ModifyIndex // unchanged
	after[1].AllocModifyIndex = before[1].AllocModifyIndex
	h.w.apply(fixtureNode, after, true, false, p)
	gs, _ := p.Take()
	got := byID(gs)
	if len(gs) != 2 || !got[specs[0].ID].Terminal || !got[specs[2].ID].Gone {
		t.Errorf("resync groups = %+v", gs)
	}
	if v := testutil.ToFloat64(h.m.ResyncCorrections); v != 2 {
		t.Errorf("resync corrections = %v, want 2", v)
	}
}

func TestWatchSelection(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) {
		c.Include.Namespaces = []string{"apps"}
		c.Exclude.Tasks = []string{"*-proxy"}
	})
	app := h.srv.AddAlloc(nomadtest.Alloc{Namespace: "apps", Tasks: []nomadtest.Task{{Name: "api"}, {Name: "api-proxy"}}})
	h.srv.AddAlloc(nomadtest.Alloc{Namespace: "default"})
	optedOut := h.srv.AddAlloc(nomadtest.Alloc{Namespace: "apps", Job: "quiet", JobMeta: map[string]string{EnabledMetaKey: "false"}})
	h.start()
	g := h.recvOne()
	if g.AllocID != app || len(g.Targets) != 2 || g.Targets[0].Task != "api" {
		t.Fatalf("full set: %+v", g)
	}
	if v := testutil.ToFloat64(h.m.AllocationsUnselected); v != 2 {
		t.Errorf("unselected allocations = %v", v)
	}

	// The job opts back in at task level.
	h.srv.UpdateAlloc(optedOut, func(a *nomadtest.Alloc) {
		a.Tasks[0].Meta = map[string]string{EnabledMetaKey: "true"}
	})
	if g := h.recvOne(); g.AllocID != optedOut || len(g.Targets) != 2 {
		t.Fatalf("opted in: %+v", g)
	}
	// And out again: an empty group, not gone.
	h.srv.UpdateAlloc(optedOut, func(a *nomadtest.Alloc) { a.Tasks[0].Meta = nil })
	if g := h.recvOne(); g.AllocID != optedOut || len(g.Targets) != 0 || g.Gone {
		t.Fatalf("opted out: %+v", g)
	}
	// Unselected allocations that go away are not reported.
	h.srv.RemoveAlloc(optedOut)
	h.expectQuiet()
}

func TestWatchCoalescesBursts(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.start()
	h.recv()
	// Nobody reads while a burst of changes happens.
	var ids []string
	for range 5 {
		ids = append(ids, h.srv.AddAlloc(nomadtest.Alloc{}))
	}
	h.srv.RemoveAlloc(ids[1])
	h.srv.SetAllocStatus(ids[0], "complete", "stop") // raises the index last
	waitFor(t, "the watcher to see the last change", func() bool {
		return testutil.ToFloat64(h.m.Index) == float64(h.srv.NodeAllocsIndex())
	})
	// Everything is pending now: the sender may hold one taken send while
	// the rest waits, merged, for the next.
	final := func(state map[string]Group) bool {
		g1, seen1 := state[ids[1]]
		ok := state[ids[0]].Terminal && (!seen1 || g1.Gone)
		for _, id := range ids[2:] {
			g, seen := state[id]
			ok = ok && seen && !g.Gone
		}
		return ok
	}
	state := map[string]Group{}
	sends := 0
	for !final(state) && sends < 2 {
		sends++
		gs := h.recv()
		seen := map[string]bool{}
		for _, g := range gs {
			if seen[g.AllocID] {
				t.Errorf("allocation %s twice in one send", g.AllocID)
			}
			seen[g.AllocID] = true
			state[g.AllocID] = g
		}
	}
	if !final(state) {
		t.Fatalf("state after %d sends: %+v", sends, state)
	}
	h.expectQuiet()
}

func TestRunOnlyOnce(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.start()
	h.recv()
	if err := h.w.Run(context.Background(), h.up); err == nil {
		t.Error("second concurrent Run: want an error")
	}
	// Run again after the first returned: a new full set.
	h.stop()
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	h.done <- nil // for the cleanup
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.w.Run(ctx, h.up) }()
	select {
	case gs := <-h.up:
		if gs == nil {
			t.Error("second run: want a full set")
		}
	case <-time.After(testDeadline):
		t.Fatal("second run sent nothing")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNotClientAgent(t *testing.T) {
	h := newHarness(t, nil, nil)
	a := h.srv.Agent()
	a.Client = false
	h.srv.SetAgent(a)
	err := h.w.Run(context.Background(), h.up)
	if !errors.Is(err, ErrNotClient) {
		t.Fatalf("err = %v, want ErrNotClient", err)
	}
}

func TestRunResolvesTheNodeAgain(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.start()
	h.recv()
	h.stop()
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}

	// The client's state was wiped: it registered as a new node.
	a := h.srv.Agent()
	a.NodeID = "11111111-2222-3333-4444-555555555555"
	h.srv.SetAgent(a)
	id := h.srv.AddAlloc(nomadtest.Alloc{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.w.Run(ctx, h.up) }()
	defer func() { h.done <- nil }() // for the cleanup
	g := h.recvOne()
	if g.AllocID != id {
		t.Errorf("full set of the new node: %+v", g)
	}
	if n, _ := h.w.Node(); n.ID != a.NodeID {
		t.Errorf("node = %+v", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
