package topology

import (
	"errors"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/health"
)

func init() {
	component.Register(component.Registration{
		Kind: component.KindSink, Type: "topo_unbuildable",
		NewConfig: func() component.Config { return &gateSinkConfig{} },
		BuildSink: func(component.Context, component.Config) (component.Sink, error) {
			return nil, errors.New("cannot build")
		},
	})
}

func TestEveryComponentHasAHealthReporter(t *testing.T) {
	reg := health.NewRegistry(nil)
	topo := New(Options{Health: reg})
	if err := topo.Start(load(t, `
source "topo_feed" "hs_src" {}
sink "topo_gate" "hs_a" { inputs = ["hs_src"] }
sink "topo_gate" "hs_b" { inputs = ["hs_src"] }
`)); err != nil {
		t.Fatal(err)
	}
	defer topo.Stop()
	if topo.Health() != reg {
		t.Fatal("Health must return the registry of the options")
	}
	snap := reg.Snapshot()
	if len(snap) != 3 || snap[0].ID != "hs_a" || snap[1].ID != "hs_b" || snap[2].ID != "hs_src" {
		t.Fatalf("snapshot: %+v", snap)
	}
	a := reg.Lookup("sink", "hs_a")
	a.Set(health.ConditionDelivery, health.Failing, "unauthorized", "401")

	// A reload that cannot be built changes nothing.
	if _, err := topo.Reload(load(t, `
source "topo_feed" "hs_src" {}
sink "topo_gate" "hs_a" { inputs = ["hs_src"] }
sink "topo_unbuildable" "hs_c" { inputs = ["hs_src"] }
`)); err == nil {
		t.Fatal("the reload must fail")
	}
	if reg.Lookup("sink", "hs_a") != a || reg.Lookup("sink", "hs_b") == nil || reg.Lookup("sink", "hs_c") != nil {
		t.Fatalf("a refused reload changed the reporters: %+v", reg.Snapshot())
	}

	// hs_a changes (a fresh reporter, OK), hs_b goes, hs_src stays as it is.
	src := reg.Lookup("source", "hs_src")
	if _, err := topo.Reload(load(t, `
source "topo_feed" "hs_src" {}
sink "topo_gate" "hs_a" {
  inputs = ["hs_src"]
  tag    = "fixed token"
}
`)); err != nil {
		t.Fatal(err)
	}
	if na := reg.Lookup("sink", "hs_a"); na == a || na.State() != health.OK {
		t.Fatalf("a rebuilt sink must start with a clean reporter: %+v", reg.Snapshot())
	}
	if reg.Lookup("sink", "hs_b") != nil {
		t.Fatal("a removed sink still shows")
	}
	if reg.Lookup("source", "hs_src") != src {
		t.Fatal("an unchanged source must keep its reporter")
	}
}
