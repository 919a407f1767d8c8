package nomadlogs

import (
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/nomadtest"
)

func TestSelection(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Include.Namespaces = []string{"apps", "ops"}
		c.Exclude.Tasks = []string{"*-sidecar"}
		// Unselected allocations never come in the watch's groups: a
		// lookup tells, within lookupRetry and the lookup's reuse of a
		// list read.
		c.UnknownAllocWait = time.Minute
	})
	h.start()
	shipped := h.addAlloc(nomadtest.Alloc{Namespace: "apps", Tasks: []nomadtest.Task{{Name: "api"}, {Name: "log-sidecar"}}})
	otherNS := h.addAlloc(nomadtest.Alloc{Namespace: "default", Tasks: []nomadtest.Task{{Name: "api"}}})
	optedOut := h.addAlloc(nomadtest.Alloc{Namespace: "ops", JobMeta: map[string]string{"drover.enabled": "false"}})

	api := newLogmon(t, nomad.LogsDir(h.allocDir, shipped), "api", nomad.Stdout, 1<<20, 0)
	sidecar := newLogmon(t, nomad.LogsDir(h.allocDir, shipped), "log-sidecar", nomad.Stdout, 1<<20, 0)
	other := newLogmon(t, nomad.LogsDir(h.allocDir, otherNS), "api", nomad.Stdout, 1<<20, 0)
	opted := newLogmon(t, nomad.LogsDir(h.allocDir, optedOut), "app", nomad.Stdout, 1<<20, 0)
	want := api.Lines("api", 0, 10, 0)
	unwanted := append(append(sidecar.Lines("sidecar", 0, 10, 0), other.Lines("other", 0, 10, 0)...), opted.Lines("opted", 0, 10, 0)...)
	waitFor(t, "the selected lines", func() bool { return h.rec.hasAll(want) })
	waitFor(t, "the unselected streams to be dropped", func() bool {
		return h.streamsIn(stateWaiting) == 0 && h.filesOpen() == 1
	})
	time.Sleep(3 * h.cfg.ScanInterval) // several scans: nothing else may come
	for _, m := range unwanted {
		if h.rec.count(m) != 0 {
			t.Fatalf("%q was shipped", m)
		}
	}
	for _, p := range []string{sidecar.Path(0), other.Path(0), opted.Path(0)} {
		if heldOpen(t, p) {
			t.Errorf("%s is held open", p)
		}
	}
	if v := h.filesOpen(); v != 1 {
		t.Errorf("files open = %v, want 1", v)
	}
}

func TestPathOnlyStreamsSelectedByTaskName(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Exclude.Tasks = []string{"noisy"} })
	h.cfg.AllocDir = h.allocDir
	h.srv.Down()
	id := nomadtest.NewID()
	dir := h.makeAllocDir(id, []nomadtest.Task{{Name: "app"}, {Name: "noisy"}})
	app := newLogmon(t, dir, "app", nomad.Stdout, 1<<20, 0)
	noisy := newLogmon(t, dir, "noisy", nomad.Stdout, 1<<20, 0)
	want := app.Lines("app", 0, 10, 0)
	skip := noisy.Lines("noisy", 0, 10, 0)
	h.start()
	waitFor(t, "the selected task's lines", func() bool { return h.rec.hasAll(want) })
	if h.rec.count(skip[0]) != 0 || heldOpen(t, noisy.Path(0)) {
		t.Fatal("an excluded task was followed")
	}
}
