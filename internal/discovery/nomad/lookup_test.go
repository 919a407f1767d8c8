package nomad

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/nomadtest"
)

func TestLookupWithoutRun(t *testing.T) {
	h := newHarness(t, nil, nil)
	id := h.srv.AddAlloc(nomadtest.Alloc{Namespace: "apps", Job: "api"})
	ctx := context.Background()

	g, found, err := h.w.Lookup(ctx, id)
	if err != nil || !found {
		t.Fatalf("Lookup = %v, %v", found, err)
	}
	if g.AllocID != id || len(g.Targets) != 2 || getStr(t, g.Targets[0].Meta, "nomad.job_name") != "api" {
		t.Errorf("group = %+v", g)
	}
	_, found, err = h.w.Lookup(ctx, nomadtest.NewID())
	if err != nil || found {
		t.Errorf("unknown allocation: found = %v, err = %v", found, err)
	}
	// Both lookups within a second share one read.
	if n := h.srv.Requests(nomadtest.EndpointNodeAllocations); n != 1 {
		t.Errorf("list reads = %d, want 1", n)
	}
}

func TestLookupConcurrentShareOneRead(t *testing.T) {
	h := newHarness(t, nil, nil)
	id := h.srv.AddAlloc(nomadtest.Alloc{})
	// The read is slow, so that every lookup joins it.
	h.srv.InjectFault(nomadtest.EndpointNodeAllocations, nomadtest.Fault{Delay: 200 * time.Millisecond}, 1)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, found, err := h.w.Lookup(context.Background(), id); !found || err != nil {
				t.Errorf("Lookup = %v, %v", found, err)
			}
		})
	}
	wg.Wait()
	if n := h.srv.Requests(nomadtest.EndpointNodeAllocations); n != 1 {
		t.Errorf("list reads = %d, want 1", n)
	}
}

func TestLookupAnswersFromRunningWatch(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.Exclude.Jobs = []string{"hidden"} })
	shown := h.srv.AddAlloc(nomadtest.Alloc{})
	hidden := h.srv.AddAlloc(nomadtest.Alloc{Job: "hidden"})
	h.start()
	full := h.recv()
	reads := h.srv.Requests(nomadtest.EndpointNodeAllocations)

	g, found, err := h.w.Lookup(context.Background(), shown)
	if err != nil || !found || g.Targets[0].Meta != full[0].Targets[0].Meta {
		t.Errorf("known allocation: %+v %v %v", g, found, err)
	}
	g, found, err = h.w.Lookup(context.Background(), hidden)
	if err != nil || !found || len(g.Targets) != 0 || g.Gone {
		t.Errorf("unselected allocation: %+v %v %v", g, found, err)
	}
	if n := h.srv.Requests(nomadtest.EndpointNodeAllocations); n > reads+1 {
		t.Errorf("lookups of known allocations read the list (%d reads)", n-reads)
	}
}

func TestLookupAgentDown(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) {
		c.NodeID = nomadtest.FixtureNodeID
		c.AllocDir = "/srv/alloc"
	})
	h.srv.Down()
	_, found, err := h.w.Lookup(context.Background(), nomadtest.NewID())
	var ae *APIError
	if found || !errors.As(err, &ae) || ae.Kind != KindUnreachable {
		t.Fatalf("Lookup with the agent down: found %v, err %v", found, err)
	}
	if testutil.ToFloat64(h.m.APIErrors(KindUnreachable)) != 1 {
		t.Error("unreachable error not counted")
	}
	// The caller falls back to path-only metadata, with what is configured.
	n, resolved := h.w.Node()
	if resolved || n.ID != nomadtest.FixtureNodeID || n.AllocDir != "/srv/alloc" {
		t.Errorf("Node() = %+v, %v", n, resolved)
	}
	m := PathMeta("nomad_test", n, "a1", "web", Stdout)
	if getStr(t, m, "nomad.node_id") != nomadtest.FixtureNodeID {
		t.Error("path metadata lacks the configured node id")
	}
}

func TestLookupCanceled(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.srv.InjectFault(nomadtest.EndpointNodeAllocations, nomadtest.Fault{Delay: time.Minute}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := h.w.Lookup(ctx, "x")
		errc <- err
	}()
	waitFor(t, "the slow read", func() bool { return h.srv.Requests(nomadtest.EndpointNodeAllocations) == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	// A new lookup reads again instead of reusing the canceled read.
	if _, _, err := h.w.Lookup(context.Background(), "x"); err != nil {
		t.Errorf("lookup after a canceled one: %v", err)
	}
}
