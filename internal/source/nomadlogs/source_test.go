package nomadlogs

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/nomadtest"
)

func TestNewAllocationShippedWithMetadata(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	waitFor(t, "the first watch", func() bool { return h.srv.Blocking() > 0 })

	id := h.addAlloc(nomadtest.Alloc{
		Namespace: "apps", Job: "shop", Group: "web",
		JobMeta:   map[string]string{"team": "payments", "tier": "job"},
		GroupMeta: map[string]string{"tier": "group"},
		Tasks: []nomadtest.Task{
			{Name: "api", Meta: map[string]string{"tier": "task"}},
			{Name: "api-proxy", Lifecycle: "prestart", Sidecar: true},
		},
	})
	dir := nomad.LogsDir(h.allocDir, id)
	apiOut := newLogmon(t, dir, "api", nomad.Stdout, 1<<20, 3)
	apiErr := newLogmon(t, dir, "api", nomad.Stderr, 1<<20, 3)
	proxy := newLogmon(t, dir, "api-proxy", nomad.Stdout, 1<<20, 3)

	written := time.Now()
	want := apiOut.Lines("api-out", 0, 1, 0)
	waitFor(t, "the first line", func() bool { return h.rec.hasAll(want) })
	first, _ := h.rec.find(want[0])
	latency := first.at.Sub(written)
	t.Logf("first line of a new allocation delivered %v after it was written", latency)
	if latency > 2*time.Second {
		t.Errorf("first line took %v", latency)
	}

	want = append(want, apiOut.Lines("api-out", 1, 300, 7)...)
	want = append(want, apiErr.Lines("api-err", 0, 300, 11)...)
	want = append(want, proxy.Lines("api-proxy-out", 0, 300, 13)...)
	waitFor(t, "every line", func() bool { return h.rec.hasAll(want) })

	metas := map[string]*event.Meta{}
	for _, e := range h.rec.all() {
		if n := h.rec.count(e.msg); n != 1 {
			t.Fatalf("%q arrived %d times", e.msg, n)
		}
		task, stream := "api", "stdout"
		switch {
		case strings.HasPrefix(e.msg, "api-err-"):
			stream = "stderr"
		case strings.HasPrefix(e.msg, "api-proxy-out-"):
			task = "api-proxy"
		}
		if e.field("nomad.task_name") != task || e.field("stream") != stream || e.field("nomad.alloc_id") != id {
			t.Fatalf("%q has task %q stream %q alloc %q", e.msg, e.field("nomad.task_name"), e.field("stream"), e.field("nomad.alloc_id"))
		}
		if m := metas[e.key()]; m != nil && m != e.meta {
			t.Fatalf("events of %s do not share their metadata", e.key())
		}
		metas[e.key()] = e.meta
	}
	api, _ := h.rec.find("api-out-000010")
	checks := map[string]string{
		"source_type": "nomad_logs", "host": nomadtest.FixtureNodeName,
		"nomad.namespace": "apps", "nomad.job_name": "shop", "nomad.group_name": "web",
		"nomad.job_type": "service", "nomad.node_id": nomadtest.FixtureNodeID,
		"nomad.node_name": nomadtest.FixtureNodeName, "nomad.datacenter": nomadtest.FixtureDatacenter,
		"nomad.region": nomadtest.FixtureRegion, "nomad.alloc_name": "shop.web[0]",
		"nomad.meta.tier": "task", "nomad.meta.team": "payments",
	}
	for path, want := range checks {
		if got := api.field(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	px, _ := h.rec.find("api-proxy-out-000010")
	if got := px.field("nomad.meta.tier"); got != "group" {
		t.Errorf("api-proxy nomad.meta.tier = %q, want the group's", got)
	}
	if v := testutil.ToFloat64(h.m.FilesOpen); v != 3 {
		t.Errorf("files open = %v, want 3", v)
	}
	if v := testutil.ToFloat64(h.src.sm.streams.WithLabelValues(stateReading)); v != 4 {
		t.Errorf("reading streams = %v, want 4 (api-proxy's stderr too)", v)
	}
}

func TestRotationAndPurgeWhileTheSinkIsBlocked(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	id := h.addAlloc(nomadtest.Alloc{})
	dir := nomad.LogsDir(h.allocDir, id)
	lm := newLogmon(t, dir, "app", nomad.Stdout, 64<<10, 3)
	h.rec.block()

	// About 40 files of 64 KiB; only the last three stay on disk. Each new
	// file is held open before logmon purges its predecessors.
	var want []string
	for i := 0; i < 40; i++ {
		want = append(want, lm.Lines("rotated-line-with-some-padding-to-fill-files", i*1000, (i+1)*1000, 100)...)
		newest := lm.Path(lm.Current())
		waitFor(t, "the newest file to be held open", func() bool { return heldOpen(t, newest) })
	}
	if files := lm.Files(); len(files) != 3 || files[0] < 25 {
		t.Fatalf("files on disk %v, want the last three", files)
	}
	if v := testutil.ToFloat64(h.m.BytesBehind(nomad.LogsDir(h.allocDir, id) + "/app.stdout")); v < 1<<20 {
		t.Errorf("bytes behind = %v while blocked", v)
	}
	h.rec.unblock()
	waitFor(t, "every line", func() bool { return h.rec.hasAll(want) })
	all := h.rec.all()
	if len(all) != len(want) {
		t.Fatalf("%d events for %d lines", len(all), len(want))
	}
	for i, e := range all {
		if e.msg != want[i] {
			t.Fatalf("event %d is %q, want %q (order)", i, e.msg, want[i])
		}
		if e.flags != 0 {
			t.Fatalf("event %q flagged %v", e.msg, e.flags)
		}
	}
	waitFor(t, "the finished files to be closed", func() bool { return testutil.ToFloat64(h.m.FilesOpen) == 1 })
	if v := testutil.ToFloat64(h.m.Errors("purged")); v != 0 {
		t.Errorf("purged = %v", v)
	}
}

func TestLongLineSplitAcrossFilesIsJoined(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	id := h.addAlloc(nomadtest.Alloc{})
	lm := newLogmon(t, nomad.LogsDir(h.allocDir, id), "app", nomad.Stdout, 100, 0)
	long := strings.Repeat("x", 250)
	lm.Write([]byte("before\n" + long + "\nafter\n"))
	want := []string{"before", long, "after"}
	waitFor(t, "the lines", func() bool { return h.rec.hasAll(want) })
	var msgs []string
	for _, e := range h.rec.all() {
		msgs = append(msgs, e.msg)
		if e.flags != 0 {
			t.Errorf("%d-byte message flagged %v", len(e.msg), e.flags)
		}
	}
	if !slices.Equal(msgs, want) {
		t.Fatalf("messages %q", msgs)
	}
	if files := lm.Files(); len(files) != 3 {
		t.Fatalf("files %v, want the line over three files", files)
	}
}
