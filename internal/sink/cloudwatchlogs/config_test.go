package cloudwatchlogs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

func TestConfigValidate(t *testing.T) {
	mod := func(f func(c *Config)) *Config {
		c := NewConfig()
		c.GroupName, c.StreamName = "/nomad/{{ nomad.namespace }}", "{{ host }}/{{ nomad.job_name }}"
		f(c)
		return c
	}
	if err := mod(func(*Config) {}).Validate(); err != nil {
		t.Fatalf("defaults with names: %v", err)
	}
	cases := map[string]*Config{
		"endpoint":             mod(func(c *Config) { c.Endpoint = "logs.eu-west-1.amazonaws.com" }),
		"group_name":           mod(func(c *Config) { c.GroupName = "" }),
		"group_name ":          mod(func(c *Config) { c.GroupName = "nomad logs" }),
		"group_name  ":         mod(func(c *Config) { c.GroupName = "/nomad/{{ job" }),
		"stream_name":          mod(func(c *Config) { c.StreamName = "a:b" }),
		"stream_name ":         mod(func(c *Config) { c.StreamName = "  " }),
		"encoding":             mod(func(c *Config) { c.Encoding = "logfmt" }),
		"max_event_bytes":      mod(func(c *Config) { c.MaxEventBytes = 26 }),
		"max_event_bytes ":     mod(func(c *Config) { c.MaxEventBytes = 2 << 20 }),
		"batch.max_events":     mod(func(c *Config) { c.Batch.MaxEvents = 10001 }),
		"batch.max_bytes":      mod(func(c *Config) { c.Batch.MaxBytes = 2 << 20 }),
		"batch.timeout":        mod(func(c *Config) { c.Batch.Timeout = -1 }),
		"request.concurrency":  mod(func(c *Config) { c.Request.Concurrency = 0 }),
		"healthcheck.required": mod(func(c *Config) { c.Healthcheck.Enabled, c.Healthcheck.Required = false, true }),
	}
	for field, c := range cases {
		err := c.Validate()
		var fe *config.FieldError
		if !errors.As(err, &fe) || fe.Field != strings.TrimSpace(field) {
			t.Errorf("%s: Validate = %v", field, err)
		}
	}
}

func TestRegistered(t *testing.T) {
	reg, ok := component.Lookup(component.KindSink, Type)
	if !ok {
		t.Fatal("cloudwatch_logs sink not registered")
	}
	cfg := reg.NewConfig().(*Config)
	if !cfg.CreateMissingGroup || !cfg.CreateMissingStream || cfg.Encoding != EncodingJSON || cfg.MaxEventBytes != 256<<10 ||
		cfg.Batch != (batch.Config{MaxEvents: 10000, MaxBytes: 1 << 20, Timeout: time.Second}) || cfg.Request.Concurrency != 4 ||
		!cfg.Healthcheck.Enabled || cfg.Healthcheck.Required || cfg.Region != "" || cfg.Endpoint != "" {
		t.Fatalf("defaults %+v", cfg)
	}
}

func TestLoadFromHCL(t *testing.T) {
	c, err := sinktest.LoadConfig(t, Type, `
  region                = "eu-central-1"
  endpoint              = env("CWL_ENDPOINT")
  group_name            = "/nomad/{{ nomad.namespace }}"
  stream_name           = "{{ host }}"
  create_missing_group  = false
  create_missing_stream = true
  encoding              = "text"
  max_event_bytes       = "1MiB"
  batch {
    max_events = 5000
    timeout    = "2s"
  }
  request { concurrency = 2 }
  healthcheck { required = true }
`, map[string]string{"CWL_ENDPOINT": "https://logs.example.internal"})
	if err != nil {
		t.Fatal(err)
	}
	want := NewConfig()
	want.Region, want.Endpoint = "eu-central-1", "https://logs.example.internal"
	want.GroupName, want.StreamName = "/nomad/{{ nomad.namespace }}", "{{ host }}"
	want.CreateMissingGroup, want.Encoding, want.MaxEventBytes = false, EncodingText, 1<<20
	want.Batch.MaxEvents, want.Batch.Timeout = 5000, 2*time.Second
	want.Request.Concurrency = 2
	want.Healthcheck.Required = true
	if got := c.(*Config); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	_, err = sinktest.LoadConfig(t, Type, `
  group_name  = "logs"
  stream_name = "a*b"
`, nil)
	if err == nil || !strings.Contains(err.Error(), "sink.hcl:") || !strings.Contains(err.Error(), "stream_name") {
		t.Fatalf("an invalid stream name: %v", err)
	}
	_, err = sinktest.LoadConfig(t, Type, `group_name = "logs"`, nil)
	if err == nil || !strings.Contains(err.Error(), `"stream_name" is required`) {
		t.Fatalf("no stream name: %v", err)
	}
}
