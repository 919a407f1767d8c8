// Package examples holds example configurations; its test loads each of
// them the way `drover validate` does.
package examples

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/drover-dev/drover/internal/agent"
	"github.com/drover-dev/drover/internal/config"
	_ "github.com/drover-dev/drover/internal/plugins"
)

// components lists "kind type name" of every component of cfg.
func components(cfg *config.Config) []string {
	var out []string
	for _, c := range cfg.Components {
		out = append(out, string(c.Kind)+" "+c.Type+" "+c.ID)
	}
	return out
}

func TestExamplesLoad(t *testing.T) {
	want := map[string][]string{
		"journald-nomad-to-loki.hcl": {"source journald host", "source file nomad_agent", "sink loki loki"},
		"journald-to-cloudwatch.hcl": {"source journald journal", "sink cloudwatch_logs aws"},
		"nomad-json-to-loki.hcl": {"source nomad_logs tasks", "transform multiline stacks", "transform parse json",
			"transform filter no_dev_debug", "sink loki loki"},
		"nomad-events-by-topic.hcl": {"source nomad_events cluster", "transform parse payload", "transform route by_topic",
			"sink elasticsearch workloads", "sink http collector"},
	}
	files, err := filepath.Glob("*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			// Without the environment of a node: env() takes its defaults,
			// and variables without one get a placeholder.
			cfg, err := agent.LoadConfig(agent.Options{ConfigPath: f, LookupEnv: func(string) (string, bool) { return "", false }})
			if err != nil {
				cfg, err = agent.LoadConfig(agent.Options{ConfigPath: f, LookupEnv: func(string) (string, bool) { return "example", true }})
			}
			if err != nil {
				t.Fatalf("drover validate: %v", err)
			}
			if w, ok := want[f]; ok && !slices.Equal(components(cfg), w) {
				t.Errorf("components %v, want %v", components(cfg), w)
			}
		})
	}
	for f := range want {
		if !slices.Contains(files, f) {
			t.Errorf("example %s is missing", f)
		}
	}
}
