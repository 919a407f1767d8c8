package nomadlogs

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/nomadtest"
)

func TestUnknownAllocationShippedWithPathMetadata(t *testing.T) {
	// Long enough that the test sees the streams waiting even on a loaded
	// machine.
	h := newHarness(t, func(c *Config) { c.UnknownAllocWait = 3 * time.Second })
	h.start()
	waitFor(t, "the first watch", func() bool { return h.srv.Blocking() > 0 })

	// Files of an allocation the API does not list (a namespace the token
	// cannot read looks the same).
	id := nomadtest.NewID()
	created := time.Now() // the wait runs from when the files are found
	dir := h.makeAllocDir(id, []nomadtest.Task{{Name: "api"}, {Name: "api-proxy"}})
	api := newLogmon(t, dir, "api", nomad.Stdout, 1<<20, 0)
	proxy := newLogmon(t, dir, "api-proxy", nomad.Stderr, 1<<20, 0)
	want := append(api.Lines("api", 0, 20, 0), proxy.Lines("proxy", 0, 20, 0)...)
	waitFor(t, "the files to be held open", func() bool { return heldOpen(t, api.Path(0)) && heldOpen(t, proxy.Path(0)) })
	if n := len(h.rec.all()); n != 0 {
		t.Fatalf("%d lines shipped before the metadata wait ran out", n)
	}
	// The gauge is refreshed by the source's loop, not at the moment the
	// files are opened.
	waitFor(t, "two streams waiting for metadata", func() bool { return h.streamsIn(stateWaiting) == 2 })
	if n := len(h.rec.all()); n != 0 {
		t.Fatalf("%d lines shipped before the metadata wait ran out", n)
	}
	waitFor(t, "every line", func() bool { return h.rec.hasAll(want) })
	first, _ := h.rec.find("api-000000")
	if d := first.at.Sub(created); d < h.cfg.UnknownAllocWait {
		t.Errorf("shipped after %v, before unknown_alloc_wait (%v)", d, h.cfg.UnknownAllocWait)
	}
	for _, m := range want {
		e, _ := h.rec.find(m)
		task, stream := "api", "stdout"
		if m[:5] == "proxy" {
			task, stream = "api-proxy", "stderr"
		}
		if e.field("nomad.alloc_id") != id || e.field("nomad.task_name") != task || e.field("stream") != stream ||
			e.field("nomad.node_id") != nomadtest.FixtureNodeID || e.field("nomad.job_name") != "" {
			t.Fatalf("%q: alloc %q task %q stream %q node %q job %q", m, e.field("nomad.alloc_id"),
				e.field("nomad.task_name"), e.field("stream"), e.field("nomad.node_id"), e.field("nomad.job_name"))
		}
	}
	if v := testutil.ToFloat64(h.src.sm.pathMeta); v != 2 {
		t.Errorf("path metadata streams = %v, want 2", v)
	}

	// Once the API describes the allocation, later lines carry its metadata.
	spec := nomadtest.Alloc{ID: id, Job: "late", Tasks: []nomadtest.Task{{Name: "api"}, {Name: "api-proxy"}}}
	h.srv.AddAlloc(spec)
	waitFor(t, "the allocation's group", func() bool { return h.streamsIn(stateReading) == 4 })
	more := api.Lines("api", 20, 30, 0)
	waitFor(t, "the later lines", func() bool { return h.rec.hasAll(more) })
	if e, _ := h.rec.find(more[0]); e.field("nomad.job_name") != "late" {
		t.Errorf("later line job %q, want late", e.field("nomad.job_name"))
	}
	for _, m := range append(want, more...) {
		if n := h.rec.count(m); n != 1 {
			t.Fatalf("%q arrived %d times", m, n)
		}
	}
}

func TestFilesBeforeTheWatchAreLookedUp(t *testing.T) {
	// Files appear before the watch reports the allocation: the lookup
	// finds it, well before unknown_alloc_wait.
	h := newHarness(t, func(c *Config) {
		c.UnknownAllocWait = time.Minute
		c.BlockingWait = 10 * time.Minute // the watch wakes only on a change
	})
	h.start()
	waitFor(t, "the first watch", func() bool { return h.srv.Blocking() > 0 })
	spec := nomadtest.Alloc{ID: nomadtest.NewID(), Job: "early"}
	out := newLogmon(t, h.makeAllocDir(spec.ID, nil), "app", nomad.Stdout, 1<<20, 0)
	// Registered without waking the blocking query: only a lookup sees it.
	h.srv.SetReadableNamespaces("none")
	h.srv.AddAlloc(spec)
	want := out.Lines("early", 0, 10, 0)
	waitFor(t, "the files to be held open", func() bool { return heldOpen(t, out.Path(0)) })
	h.srv.SetReadableNamespaces()
	waitFor(t, "every line", func() bool { return h.rec.hasAll(want) })
	if e, _ := h.rec.find(want[0]); e.field("nomad.job_name") != "early" {
		t.Errorf("job %q, want the looked-up metadata", e.field("nomad.job_name"))
	}
}

func TestAgentDownAtStart(t *testing.T) {
	// alloc_dir and node_id are configured, the agent is down: files are
	// found and shipped with path metadata; once the agent is back, with
	// the allocation's.
	h := newHarness(t, nil)
	h.cfg.AllocDir = h.allocDir
	h.cfg.NodeID = nomadtest.FixtureNodeID
	spec := nomadtest.Alloc{ID: nomadtest.NewID(), Job: "svc"}
	out := newLogmon(t, h.makeAllocDir(spec.ID, nil), "app", nomad.Stdout, 1<<20, 0)
	want := out.Lines("down", 0, 10, 0)
	h.srv.Down()
	h.start()
	waitFor(t, "the lines with path metadata", func() bool { return h.rec.hasAll(want) })
	if e, _ := h.rec.find(want[0]); e.field("nomad.alloc_id") != spec.ID || e.field("nomad.job_name") != "" {
		t.Errorf("alloc %q job %q", e.field("nomad.alloc_id"), e.field("nomad.job_name"))
	}
	h.srv.AddAlloc(spec)
	h.srv.Up()
	waitFor(t, "the allocation's metadata", func() bool { return h.streamsIn(stateReading) == 2 && h.streamsIn(stateWaiting) == 0 })
	more := out.Lines("up", 0, 10, 0)
	waitFor(t, "the later lines", func() bool { return h.rec.hasAll(more) })
	if e, _ := h.rec.find(more[0]); e.field("nomad.job_name") != "svc" {
		t.Errorf("job %q after the agent came back", e.field("nomad.job_name"))
	}
}

// The agent is down when drover starts again, and the alloc dir comes from
// the agent (not configured): drover reads below the alloc dir of its last
// run, shipping with path metadata until the agent answers (found by the
// chaos suite: such a process read nothing, and the files logmon purged
// meanwhile went unreported).
func TestAgentDownAtRestartReadsBelowTheLastAllocDir(t *testing.T) {
	h := newHarness(t, nil)
	spec := nomadtest.Alloc{ID: nomadtest.NewID(), Job: "svc"}
	out := newLogmon(t, h.makeAllocDir(spec.ID, nil), "app", nomad.Stdout, 1<<20, 0)
	h.srv.AddAlloc(spec)
	h.start()
	first := out.Lines("up", 0, 5, 0)
	waitFor(t, "the first lines", func() bool { return h.rec.hasAll(first) })
	h.stop()
	if st := h.checkpointed(); st.AllocDir != h.allocDir {
		t.Fatalf("checkpoint alloc_dir %q, want %q", st.AllocDir, h.allocDir)
	}

	h.srv.Down()
	other := nomadtest.Alloc{ID: nomadtest.NewID(), Job: "new"}
	out2 := newLogmon(t, h.makeAllocDir(other.ID, nil), "app", nomad.Stdout, 1<<20, 0)
	h.start()
	down := append(out.Lines("down", 0, 5, 0), out2.Lines("new", 0, 5, 0)...)
	waitFor(t, "the lines written while the agent is down", func() bool { return h.rec.hasAll(down) })
	if e, _ := h.rec.find("new-000000"); e.field("nomad.alloc_id") != other.ID {
		t.Errorf("alloc %q", e.field("nomad.alloc_id"))
	}
	for _, m := range append(first, down...) {
		if n := h.rec.count(m); n != 1 {
			t.Errorf("%q arrived %d times", m, n)
		}
	}
}

// The agent answers but node:read is missing: the alloc dir is the agent's,
// files are shipped with path metadata.
func TestNodeForbiddenShipsByPath(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.InjectFault(nomadtest.EndpointNode, nomadtest.Fault{Status: 403}, 0)
	spec := nomadtest.Alloc{ID: nomadtest.NewID(), Job: "svc"}
	out := newLogmon(t, h.makeAllocDir(spec.ID, nil), "app", nomad.Stdout, 1<<20, 0)
	h.srv.AddAlloc(spec)
	h.start()
	want := out.Lines("line", 0, 5, 0)
	waitFor(t, "the lines with path metadata", func() bool { return h.rec.hasAll(want) })
	if e, _ := h.rec.find(want[0]); e.field("nomad.alloc_id") != spec.ID || e.field("nomad.node_id") != nomadtest.FixtureNodeID {
		t.Errorf("alloc %q node %q", e.field("nomad.alloc_id"), e.field("nomad.node_id"))
	}
}
