package nomadlogs

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/nomadtest"
)

// TestAPIFaultsWhileLogsFlow keeps a writer going while the API answers
// 500 and 403, drops connections, cuts an answer in half and moves its
// index backwards, and allocations come and go: every line arrives once,
// with its allocation's metadata.
func TestAPIFaultsWhileLogsFlow(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.UnknownAllocWait = 30 * time.Second })
	h.start()
	waitFor(t, "the first watch", func() bool { return h.srv.Blocking() > 0 })

	type running struct {
		id  string
		job string
		out *nomadtest.Logmon
	}
	var allocs []running
	var want []string
	add := func(i int) {
		job := fmt.Sprintf("job-%d", i)
		id := h.addAlloc(nomadtest.Alloc{Job: job, Namespace: []string{"default", "apps"}[i%2]})
		allocs = append(allocs, running{id: id, job: job, out: newLogmon(t, nomad.LogsDir(h.allocDir, id), "app", nomad.Stdout, 4096, 0)})
	}
	write := func(round int) {
		for _, a := range allocs {
			want = append(want, a.out.Lines(fmt.Sprintf("%s-r%d", a.job, round), 0, 20, 5)...)
		}
	}
	errs := func(k nomad.ErrorKind) func() float64 {
		return func() float64 { return testutil.ToFloat64(h.src.dm.APIErrors(k)) }
	}
	resets := func() float64 { return testutil.ToFloat64(h.src.dm.IndexResets) }
	faults := []struct {
		name    string
		inject  func()
		counter func() float64
	}{
		{"500", func() { h.srv.Fail(nomadtest.EndpointNodeAllocations, 500, 3) }, errs(nomad.KindServer)},
		{"403", func() { h.srv.Fail(nomadtest.EndpointNodeAllocations, 403, 2) }, errs(nomad.KindForbidden)},
		{"dropped connection", func() {
			// Go's client retries a GET once, unseen, when a reused
			// connection closes before any answer, and the watch and a
			// lookup may each absorb one drop that way.
			h.srv.InjectFault(nomadtest.EndpointNodeAllocations, nomadtest.Fault{Drop: true}, 4)
		}, errs(nomad.KindUnreachable)},
		{"answer cut in half", func() {
			h.srv.InjectFault(nomadtest.EndpointNodeAllocations, nomadtest.Fault{Truncate: true}, 1)
		}, errs(nomad.KindUnreachable)},
		{"index backwards", func() { h.srv.SetIndex(2) }, resets},
	}
	for i, f := range faults {
		waitFor(t, "the watch to wait for a change", func() bool { return h.srv.Blocking() > 0 })
		before := f.counter()
		f.inject()
		add(i) // wakes the watch, which meets the fault
		write(i)
		waitFor(t, f.name+" to be met", func() bool { return f.counter() > before })
	}
	h.srv.ClearFaults()
	add(len(faults))
	write(len(faults))
	waitFor(t, "every line", func() bool { return h.rec.hasAll(want) })
	byAlloc := map[string]string{}
	for _, a := range allocs {
		byAlloc[a.id] = a.job
	}
	for _, m := range want {
		if n := h.rec.count(m); n != 1 {
			t.Fatalf("%q arrived %d times", m, n)
		}
		e, _ := h.rec.find(m)
		if job := byAlloc[e.field("nomad.alloc_id")]; job == "" || e.field("nomad.job_name") != job {
			t.Fatalf("%q: alloc %q job %q", m, e.field("nomad.alloc_id"), e.field("nomad.job_name"))
		}
	}
	if v := testutil.ToFloat64(h.src.sm.pathMeta); v != 0 {
		t.Errorf("%v streams fell back to path metadata", v)
	}
}

func TestForbiddenAtStartKeepsTailing(t *testing.T) {
	// The token cannot read the agent (403 before the first full set): the
	// watch stops and is retried; files are shipped with path metadata.
	h := newHarness(t, func(c *Config) { c.RetryMaxBackoff = 200 * time.Millisecond })
	h.cfg.AllocDir = h.allocDir
	h.srv.RequireToken("secret")
	id := nomadtest.NewID()
	out := newLogmon(t, h.makeAllocDir(id, nil), "app", nomad.Stdout, 1<<20, 0)
	want := out.Lines("line", 0, 10, 0)
	h.start()
	waitFor(t, "the lines with path metadata", func() bool { return h.rec.hasAll(want) })
	waitFor(t, "the failed watch to be counted", func() bool { return testutil.ToFloat64(h.m.Errors("discovery")) >= 2 })
	if n := h.logs.count("cannot watch the node's allocations"); n != 1 {
		t.Errorf("the failing watch was logged %d times, want once", n)
	}
}
