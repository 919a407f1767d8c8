package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
)

// A sink type with named outputs taken from its configuration.
type outputsSinkConfig struct {
	Outs []string `hcl:"outs"`
}

func (*outputsSinkConfig) Validate() error { return nil }

func init() {
	component.Register(component.Registration{
		Kind: component.KindSink, Type: "cfgtest_outputs",
		NewConfig: func() component.Config { return &outputsSinkConfig{Outs: []string{"dead_letter"}} },
		Outputs:   func(c component.Config) []string { return c.(*outputsSinkConfig).Outs },
		BuildSink: func(component.Context, component.Config) (component.Sink, error) { return nil, nil },
	})
}

const outputsBase = `
source "cfgtest_source" "app" { include = ["/x"] }
sink "cfgtest_outputs" "es" { inputs = ["app"] }
`

func TestNamedOutputsAreInputs(t *testing.T) {
	cfg, err := config.Load("t.hcl", []byte(outputsBase+`
sink "cfgtest_sink" "dlq" {
  inputs = ["es.dead_letter"]
  uri    = "http://x"
}
sink "cfgtest_sink" "all" {
  inputs = ["*"]
  uri    = "http://y"
}
sink "cfgtest_sink" "dotted" {
  inputs = ["*.dead_*"]
  uri    = "http://z"
}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if es := cfg.Component("es"); !slices.Equal(es.Outputs, []string{"dead_letter"}) {
		t.Fatalf("es outputs = %v", es.Outputs)
	}
	if got := cfg.Producers(); !slices.Equal(got, []string{"app", "es.dead_letter"}) {
		t.Fatalf("producers = %v", got)
	}
	cons := cfg.Consumers()
	if !slices.Equal(cons["es.dead_letter"], []string{"dlq", "dotted"}) {
		t.Fatalf("consumers of es.dead_letter = %v", cons["es.dead_letter"])
	}
	// A pattern without a dot matches default outputs only.
	if got := cfg.Component("all").Inputs; !slices.Equal(got, []string{"app"}) {
		t.Fatalf(`inputs = ["*"] resolved to %v`, got)
	}
	if config.OutputOwner("es.dead_letter") != "es" || config.OutputOwner("app") != "app" {
		t.Fatal("OutputOwner")
	}

	// The outputs are part of the fingerprint.
	other, err := config.Load("t.hcl", []byte(`
source "cfgtest_source" "app" { include = ["/x"] }
sink "cfgtest_outputs" "es" {
  inputs = ["app"]
  outs   = ["dead_letter", "other"]
}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if other.Component("es").Fingerprint() == cfg.Component("es").Fingerprint() {
		t.Fatal("a change of outputs must change the fingerprint")
	}
}

func TestNamedOutputErrors(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"unknown output", outputsBase + "sink \"cfgtest_sink\" \"d\" {\n inputs = [\"es.nope\"]\n uri = \"http://x\"\n}\n",
			[]string{"t.hcl:5", `"es.nope"`, "no component has that output"}},
		{"own output", `
source "cfgtest_source" "app" { include = ["/x"] }
sink "cfgtest_outputs" "es" { inputs = ["app", "es.dead_letter"] }
`, []string{"t.hcl:3", "itself"}},
		{"cycle through dead letters", `
source "cfgtest_source" "app" { include = ["/x"] }
sink "cfgtest_outputs" "a" { inputs = ["app", "b.dead_letter"] }
sink "cfgtest_outputs" "b" { inputs = ["a.dead_letter"] }
`, []string{"cycle", "a -> b -> a"}},
		{"invalid output name", `
source "cfgtest_source" "app" { include = ["/x"] }
sink "cfgtest_outputs" "es" {
  inputs = ["app"]
  outs   = ["Bad-Name"]
}
`, []string{"t.hcl:3", `"Bad-Name"`, "lowercase"}},
		{"duplicate output name", `
source "cfgtest_source" "app" { include = ["/x"] }
sink "cfgtest_outputs" "es" {
  inputs = ["app"]
  outs   = ["x", "x"]
}
`, []string{"t.hcl:3", "Duplicate output", `"x"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load("t.hcl", []byte(tc.src), env(nil))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
