package topology

import (
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/status"
)

// A tap sees every sample-th event that leaves an output, encoded as
// JSON; a viewer that does not read loses events, counted, and never
// holds the pipeline up; a closed tap sees nothing more.
func TestTapSamplesAndNeverBlocks(t *testing.T) {
	cfg := load(t, `
source "topo_feed" "tap_src" {}
sink "topo_gate" "tap_out" { inputs = ["tap_src"] }
`)
	topo := New(Options{})
	if err := topo.Start(cfg); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	src, out := w.source("tap_src"), w.sink("tap_out")

	tp, err := topo.Tap("tap_src", 2)
	if err != nil {
		t.Fatal(err)
	}
	src.feed <- 6
	out.gate <- struct{}{}
	waitFor(t, "the sink to take the batch", func() bool { return out.count() == 6 })
	var got []string
	for len(tp.Events()) > 0 {
		got = append(got, string(<-tp.Events()))
	}
	if len(got) != 3 || !strings.Contains(got[0], `"message":"tap_src-0"`) || !strings.Contains(got[1], `"message":"tap_src-2"`) ||
		!strings.Contains(got[0], `"source_type":"feed"`) {
		t.Fatalf("sampled 1 in 2 of 6 events: %q", got)
	}

	// Nobody reads: the tap's buffer fills, the rest is lost, the sink
	// gets everything.
	src.feed <- 2*TapBuffer + 20
	out.gate <- struct{}{}
	waitFor(t, "the sink to take the big batch", func() bool { return out.count() == 6+2*TapBuffer+20 })
	if tp.Lost() != 10 || len(tp.Events()) != TapBuffer {
		t.Fatalf("lost %d, buffered %d; want 10 lost after %d buffered", tp.Lost(), len(tp.Events()), TapBuffer)
	}
	tp.Close()
	for len(tp.Events()) > 0 {
		<-tp.Events()
	}
	src.feed <- 4
	out.gate <- struct{}{}
	waitFor(t, "the sink to take the last batch", func() bool { return out.count() == 6+2*TapBuffer+20+4 })
	if n := len(tp.Events()); n != 0 {
		t.Fatalf("a closed tap got %d events", n)
	}
}

func TestTapRefusesWhatHasNoOutput(t *testing.T) {
	cfg := load(t, `
source "topo_feed" "tapr_src" {}
sink "topo_gate" "tapr_out" { inputs = ["tapr_src"] }
`)
	topo := New(Options{})
	if err := topo.Start(cfg); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	for output, want := range map[string]string{
		"nope":           `no component "nope"`,
		"tapr_out":       `"tapr_out" is a sink, which has no default output; tap one of its inputs: [tapr_src]`,
		"tapr_src.other": `source "tapr_src" has no output "tapr_src.other"`,
	} {
		if _, err := topo.Tap(output, 1); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Tap(%q) = %v, want %q", output, err, want)
		}
	}
	if _, err := topo.Tap("tapr_src", 0); err == nil {
		t.Error("Tap with sample 0 accepted")
	}
	// Running lists the installed components with their instances.
	var rs []status.Running = topo.Running()
	if len(rs) != 2 || rs[0].ID != "tapr_src" || rs[0].Instance != w.source("tapr_src") || rs[1].Inputs[0] != "tapr_src" {
		t.Errorf("Running = %+v", rs)
	}
}
