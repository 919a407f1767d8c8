package nomad

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/nomadtest"
)

// discovered runs a Discoverer over the harness's fake agent and alloc
// dir, and returns a function that receives its next send.
func discovered(t *testing.T, h *harness, wait time.Duration) func() []discovery.Group {
	t.Helper()
	d, err := NewDiscoverer(DiscovererOptions{
		Watcher: h.w, Config: h.w.cfg, SourceID: "logs", ScanInterval: 20 * time.Millisecond,
		UseFsnotify: true, UnknownAllocWait: wait,
	})
	if err != nil {
		t.Fatal(err)
	}
	up := make(chan []discovery.Group)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, up) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return func() []discovery.Group {
		t.Helper()
		select {
		case gs := <-up:
			return gs
		case <-time.After(testDeadline):
			t.Fatal("no send within the deadline")
			return nil
		}
	}
}

// groupFor waits for a send that holds a group of key and returns it.
// groupLog hands out the groups of a discoverer's sends by key: a send
// may carry the groups of several keys, and those not asked for yet wait
// for their turn.
type groupLog struct {
	next    func() []discovery.Group
	pending []discovery.Group
}

// groupFor returns the next group of key, in the order they were sent.
func (l *groupLog) groupFor(t *testing.T, key string) discovery.Group {
	t.Helper()
	for {
		for i, g := range l.pending {
			if g.Key == key {
				l.pending = append(l.pending[:i:i], l.pending[i+1:]...)
				return g
			}
		}
		l.pending = append(l.pending, l.next()...)
	}
}

// The first send is the full set, once the alloc dir was listed: the
// API's allocations with their targets and metadata, and the streams of
// an allocation the API does not describe, found on disk, without
// metadata. When the wait for its metadata runs out, they get what their
// path tells. A directory collected is a gone group.
func TestDiscovererMergesTheAPIAndTheDisk(t *testing.T) {
	allocDir := t.TempDir()
	h := newHarness(t, nil, func(c *Config) { c.AllocDir = allocDir })
	known := h.srv.AddAlloc(nomadtest.Alloc{Job: "web"})
	nomadtest.MakeAllocDir(t, allocDir, known, "app")
	unknown := nomadtest.NewID()
	logs := nomadtest.MakeAllocDir(t, allocDir, unknown, "lost")
	if err := os.WriteFile(filepath.Join(logs, "lost.stdout.0"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	next := discovered(t, h, 300*time.Millisecond)

	full := next()
	sends := &groupLog{next: next}
	byKey := map[string]discovery.Group{}
	for _, g := range full {
		byKey[g.Key] = g
	}
	u, ok := byKey[unknown]
	if !ok || len(u.Targets) != 1 || u.Targets[0].Key != unknown+"/lost/stdout" || u.Targets[0].Meta != nil ||
		u.Targets[0].Scheme != discovery.Numbered || u.Targets[0].Name != "lost.stdout" {
		t.Fatalf("the unknown allocation in the full set: %+v (present %v)", u, ok)
	}
	// The API's group comes in the full set or right after it.
	k, ok := byKey[known]
	if !ok {
		k = sends.groupFor(t, known)
	}
	if len(k.Targets) != 2 || k.Targets[0].Meta == nil || k.Targets[0].Dir != LogsDir(allocDir, known) {
		t.Fatalf("the API's allocation: %+v", k)
	}

	// The wait runs out: path metadata.
	g := sends.groupFor(t, unknown)
	if len(g.Targets) != 1 || g.Targets[0].Meta == nil {
		t.Fatalf("after unknown_alloc_wait: %+v", g)
	}
	if v, _ := g.Targets[0].Meta.Fields.Get("nomad.alloc_id"); v.Str() != unknown {
		t.Fatalf("path metadata: alloc_id %q", v.Str())
	}

	// Garbage collection of the allocation the API never described.
	if err := os.RemoveAll(filepath.Join(allocDir, unknown)); err != nil {
		t.Fatal(err)
	}
	for g = sends.groupFor(t, unknown); !g.Gone; g = sends.groupFor(t, unknown) {
	}
}
