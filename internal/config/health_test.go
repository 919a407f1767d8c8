package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/config"
)

const minimalTopology = "source \"cfgtest_source\" \"app\" { include = [\"/x\"] }\n" +
	"sink \"cfgtest_sink\" \"out\" {\n inputs = [\"app\"]\n uri = \"http://x\"\n}\n"

func TestHealthDefaultsAndOverrides(t *testing.T) {
	cfg, err := config.Load("drover.hcl", []byte(minimalTopology), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Health.Policy()
	if p.SinkFailingAfter != time.Minute || p.SourceFailingAfter != 5*time.Minute || p.DiscardRatio != 0.1 ||
		p.DiscardWindow != 5*time.Minute || p.DiscardMinEvents != 100 || strings.Join(p.IgnoredDiscardReasons, ",") != "filtered,excluded,duplicate" {
		t.Fatalf("defaults: %+v", p)
	}
	cfg, err = config.Load("drover.hcl", []byte(`health {
  sink_failing_after      = "10s"
  source_failing_after    = "0s"
  discard_ratio           = 0
  discard_window          = "1m"
  discard_min_events      = 1
  ignored_discard_reasons = []
}
`+minimalTopology), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	p = cfg.Health.Policy()
	if p.SinkFailingAfter != 10*time.Second || p.SourceFailingAfter != 0 || p.DiscardRatio != 0 ||
		p.DiscardWindow != time.Minute || p.DiscardMinEvents != 1 || len(p.IgnoredDiscardReasons) != 0 {
		t.Fatalf("overrides: %+v", p)
	}
}

func TestHealthValidation(t *testing.T) {
	for src, want := range map[string]string{
		"health {\n  discard_ratio = 1.5\n}\n":        "drover.hcl:2,3: Invalid health.discard_ratio",
		"health {\n  discard_ratio = -0.1\n}\n":       "drover.hcl:2,3: Invalid health.discard_ratio",
		"health {\n  discard_window = \"10ms\"\n}\n":  "drover.hcl:2,3: Invalid health.discard_window",
		"health {\n  discard_min_events = 0\n}\n":     "drover.hcl:2,3: Invalid health.discard_min_events",
		"health {\n  sink_failing_after = \"x\"\n}\n": "drover.hcl:2,24: Invalid value for \"sink_failing_after\"",
		"health {\n  bogus = 1\n}\n":                  "drover.hcl:2,3: Unsupported argument",
	} {
		_, err := config.Load("drover.hcl", []byte(src+minimalTopology), env(nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}

func TestMetricsBlock(t *testing.T) {
	cfg, err := config.Load("drover.hcl", []byte(minimalTopology), env(nil))
	if err != nil || cfg.Metrics.FileSeriesLimit != 100 {
		t.Fatalf("default: %v %+v", err, cfg.Metrics)
	}
	cfg, err = config.Load("drover.hcl", []byte("metrics { file_series_limit = 0 }\n"+minimalTopology), env(nil))
	if err != nil || cfg.Metrics.FileSeriesLimit != 0 {
		t.Fatalf("0: %v %+v", err, cfg.Metrics)
	}
	_, err = config.Load("drover.hcl", []byte("metrics {\n  file_series_limit = -1\n}\n"+minimalTopology), env(nil))
	if err == nil || !strings.Contains(err.Error(), "drover.hcl:2,3: Invalid metrics.file_series_limit") {
		t.Fatalf("-1: %v", err)
	}
}
