package topology

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/metrics"
)

// loadIn is load with a given data_dir, for runs that share their state.
func loadIn(t *testing.T, dataDir, src string) *config.Config {
	t.Helper()
	cfg, err := config.Load("test.hcl", []byte("data_dir = \""+dataDir+"\"\nshutdown_timeout = \"1s\"\n"+src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func diskSink(src, sink, extra string) string {
	return `
source "topo_feed" "` + src + `" {}
sink "topo_gate" "` + sink + `" {
  inputs = ["` + src + `"]
  ` + extra + `
  buffer {
    type = "disk"
    fsync_interval = "0s"
  }
}`
}

func TestDiskBufferAcknowledgesSourcesWhileTheSinkIsDown(t *testing.T) {
	dir := t.TempDir()
	reg := metrics.New()
	topo := New(Options{Metrics: reg})
	if err := topo.Start(loadIn(t, dir, diskSink("dk_src", "dk_sink", ""))); err != nil {
		t.Fatal(err)
	}
	src := w.source("dk_src")
	// The sink releases nothing; far more than the window (10000 events)
	// goes in, and every batch is acknowledged once it is on disk.
	for i := 0; i < 30; i++ {
		src.feed <- 1000
	}
	waitFor(t, "acknowledgements from the disk buffer", func() bool { ok, _ := src.ackResults(); return ok == 30 })
	m := reg.Component("sink", "topo_gate", "dk_sink")
	if got := testutil.ToFloat64(m.BufferEvents); got != 30000 {
		t.Fatalf("buffer_events = %v, want 30000", got)
	}
	if got := testutil.ToFloat64(m.ReceivedEvents); got != 30000 {
		t.Fatalf("received events = %v, want 30000", got)
	}
	// Stopping does not drain the buffer: the sink is given up on after
	// the shutdown timeout and the events stay on disk.
	start := time.Now()
	topo.Stop()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Stop took %v", d)
	}
	if w.sink("dk_sink").count() != 0 {
		t.Fatal("the sink delivered while its gate was closed")
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "buffer", "dk_sink", "*.seg")); len(files) == 0 {
		t.Fatal("no segment files after stopping with a full buffer")
	}

	// The next run delivers everything, in order.
	topo = New(Options{})
	if err := topo.Start(loadIn(t, dir, diskSink("dk_src", "dk_sink", ""))); err != nil {
		t.Fatal(err)
	}
	sink := w.sink("dk_sink")
	close(sink.gate)
	waitFor(t, "the buffered events after restart", func() bool { return sink.count() == 30000 })
	topo.Stop()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for i, b := range sink.got {
		if len(b.Events) != 1000 || string(b.Events[0].Message) != "dk_src-0" || b.Events[0].Meta.Source != "dk_src" {
			t.Fatalf("batch %d after restart: %d events, first %q", i, len(b.Events), b.Events[0].Message)
		}
		if b.Events[0].Meta != b.Events[999].Meta {
			t.Fatal("events read from disk do not share their metadata")
		}
	}
}

func TestDiskBufferSurvivesReloadOfItsSink(t *testing.T) {
	dir := t.TempDir()
	topo := New(Options{})
	if err := topo.Start(loadIn(t, dir, diskSink("dr_src", "dr_sink", `tag = "a"`))); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	src, old := w.source("dr_src"), w.sink("dr_sink")
	for i := 0; i < 15; i++ {
		src.feed <- 1000
	}
	waitFor(t, "acknowledgements", func() bool { ok, _ := src.ackResults(); return ok == 15 })
	// Let the old instance deliver two batches, then replace it while it
	// holds a full window it never delivers.
	old.gate <- struct{}{}
	old.gate <- struct{}{}
	waitFor(t, "two batches delivered", func() bool { return old.count() == 2000 })
	ch, err := topo.Reload(loadIn(t, dir, diskSink("dr_src", "dr_sink", `tag = "b"`)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ch.Changed, ",") != "dr_sink" {
		t.Fatalf("changes %+v", ch)
	}
	nw := w.sink("dr_sink")
	if nw == old {
		t.Fatal("sink not rebuilt")
	}
	close(nw.gate)
	src.feed <- 1000
	// The old instance is abandoned after the shutdown timeout; what it held
	// is handed to the new one.
	waitFor(t, "every other batch through the new instance", func() bool { return nw.count() == 14000 })
	waitFor(t, "the source's acknowledgement", func() bool { ok, _ := src.ackResults(); return ok == 16 })
}

func TestReloadFromDiskToMemoryKeepsTheFiles(t *testing.T) {
	dir := t.TempDir()
	topo := New(Options{})
	if err := topo.Start(loadIn(t, dir, diskSink("dm_src", "dm_sink", ""))); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	src := w.source("dm_src")
	src.feed <- 10
	waitFor(t, "acknowledgement", func() bool { ok, _ := src.ackResults(); return ok == 1 })
	_, err := topo.Reload(loadIn(t, dir, `
source "topo_feed" "dm_src" {}
sink "topo_gate" "dm_sink" { inputs = ["dm_src"] }`))
	if err != nil {
		t.Fatal(err)
	}
	nw := w.sink("dm_sink")
	close(nw.gate)
	src.feed <- 5
	waitFor(t, "the memory-buffered batch", func() bool { return nw.count() == 5 })
	// The disk buffer was closed with its batch still in it (and unlocked:
	// a new disk-buffered instance can open it again).
	topo.retiring.Wait() // the old instance gave up after the shutdown timeout
	_, err = topo.Reload(loadIn(t, dir, diskSink("dm_src", "dm_sink", "")))
	if err != nil {
		t.Fatal(err)
	}
	again := w.sink("dm_sink")
	close(again.gate)
	waitFor(t, "the batch left on disk", func() bool { return again.count() == 10 })
}

func TestDiskBufferThatCannotOpenFailsTheBuild(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "buffer"), 0o750); err != nil {
		t.Fatal(err)
	}
	// A file where the buffer's directory should be.
	if err := os.WriteFile(filepath.Join(dir, "buffer", "bad_sink"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	topo := New(Options{})
	err := topo.Start(loadIn(t, dir, diskSink("bad_src", "bad_sink", "")))
	if err == nil || !strings.Contains(err.Error(), `sink "bad_sink"`) || !strings.Contains(err.Error(), "disk buffer") {
		t.Fatalf("Start: %v", err)
	}
	topo.Stop()
}

func TestMemoryDropNewestDiscardsWhenFull(t *testing.T) {
	reg := metrics.New()
	topo := New(Options{Metrics: reg})
	if err := topo.Start(load(t, `
source "topo_feed" "dn_src" {}
sink "topo_gate" "dn_sink" {
  inputs = ["dn_src"]
  buffer {
    max_events = 10
    when_full  = "drop_newest"
  }
}`)); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	src, sink := w.source("dn_src"), w.sink("dn_sink")
	for i := 0; i < 5; i++ {
		src.feed <- 4 // two fit, three are dropped
	}
	waitFor(t, "the dropped batches to be acknowledged", func() bool { ok, _ := src.ackResults(); return ok == 3 })
	m := reg.Component("sink", "topo_gate", "dn_sink")
	if got := testutil.ToFloat64(m.Discarded("buffer_full")); got != 12 {
		t.Fatalf("discarded = %v, want 12", got)
	}
	close(sink.gate)
	waitFor(t, "the kept batches", func() bool { ok, _ := src.ackResults(); return ok == 5 })
	if sink.count() != 8 {
		t.Fatalf("sink got %d events, want 8", sink.count())
	}
}
