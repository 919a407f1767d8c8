package loki

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/healthcheck"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

func TestConfigValidate(t *testing.T) {
	mod := func(f func(c *Config)) *Config {
		c := NewConfig()
		c.Endpoint = "https://loki.example:3100"
		f(c)
		return c
	}
	if err := mod(func(*Config) {}).Validate(); err != nil {
		t.Fatalf("defaults with an endpoint: %v", err)
	}
	for name, c := range map[string]*Config{
		"json gzip":   mod(func(c *Config) { c.Format, c.Compression = FormatJSON, CompressionGzip }),
		"json none":   mod(func(c *Config) { c.Format, c.Compression = FormatJSON, CompressionNone }),
		"snappy":      mod(func(c *Config) { c.Compression = CompressionSnappy }),
		"path prefix": mod(func(c *Config) { c.Endpoint = "https://gw.example/loki/" }),
		"label defaults": mod(func(c *Config) {
			c.Labels = map[string]string{"ns": "{{ nomad.namespace }}"}
			c.LabelDefaults = map[string]string{"ns": "none"}
		}),
		"tenant template": mod(func(c *Config) {
			c.TenantID, c.DefaultTenantID = "{{ nomad.namespace }}", "default"
		}),
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	cases := map[string]*Config{
		"endpoint":                  mod(func(c *Config) { c.Endpoint = "" }),
		"endpoint ":                 mod(func(c *Config) { c.Endpoint = "loki:3100" }),
		"endpoint  ":                mod(func(c *Config) { c.Endpoint = "http://loki:3100/?x=1" }),
		"path":                      mod(func(c *Config) { c.Path = "loki/api/v1/push" }),
		"format":                    mod(func(c *Config) { c.Format = "msgpack" }),
		"compression":               mod(func(c *Config) { c.Compression = CompressionGzip }),
		"compression ":              mod(func(c *Config) { c.Format, c.Compression = FormatJSON, CompressionSnappy }),
		"compression  ":             mod(func(c *Config) { c.Compression = "zstd" }),
		"encoding":                  mod(func(c *Config) { c.Encoding = "logfmt" }),
		"labels":                    mod(func(c *Config) { c.Labels = map[string]string{"bad-name": "x"} }),
		"labels ":                   mod(func(c *Config) { c.Labels = map[string]string{"job": "{{ nomad.job_name"} }),
		"label_defaults":            mod(func(c *Config) { c.LabelDefaults = map[string]string{"job": "x"} }),
		"structured_metadata":       mod(func(c *Config) { c.StructuredMetadata = map[string]string{"1st": "x"} }),
		"tenant_id":                 mod(func(c *Config) { c.TenantID = "{{ }}" }),
		"tenant_id ":                mod(func(c *Config) { c.DefaultTenantID = "a\nb" }),
		"headers":                   mod(func(c *Config) { c.TenantID = "t"; c.Headers = map[string]string{"x-scope-orgid": "t"} }),
		"auth.strategy":             mod(func(c *Config) { c.Auth = &httpclient.AuthConfig{Strategy: "api_key", APIKey: "k"} }),
		"auth.token":                mod(func(c *Config) { c.Auth = &httpclient.AuthConfig{Strategy: "bearer"} }),
		"tls.key_file":              mod(func(c *Config) { c.TLS = &httpclient.TLSConfig{CertFile: "c.pem"} }),
		"batch.max_events":          mod(func(c *Config) { c.Batch.MaxEvents = 0 }),
		"request.concurrency":       mod(func(c *Config) { c.Request.Concurrency = 0 }),
		"healthcheck.path":          mod(func(c *Config) { c.Healthcheck.Path = "ready" }),
		"healthcheck.required":      mod(func(c *Config) { c.Healthcheck.Enabled, c.Healthcheck.Required = false, true }),
		"request.retry_max_backoff": mod(func(c *Config) { c.Request.RetryMaxBackoff = time.Millisecond }),
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
		t.Fatal("loki sink not registered")
	}
	cfg := reg.NewConfig().(*Config)
	if cfg.Format != FormatProtobuf || cfg.compression() != CompressionSnappy || cfg.Encoding != EncodingJSON ||
		cfg.Path != DefaultPath || !cfg.Healthcheck.Enabled || cfg.Healthcheck.Path != "/ready" || cfg.Healthcheck.Required ||
		cfg.Batch != batch.DefaultConfig() || cfg.Request.Concurrency != 1 {
		t.Fatalf("defaults %+v", cfg)
	}
	cfg.Endpoint = "http://127.0.0.1:1"
	s, err := reg.BuildSink(component.Context{Kind: component.KindSink, Type: Type, ID: "x", Metrics: metrics.ForTest("sink", Type, "x")}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(component.Healthchecker); !ok {
		t.Fatal("the loki sink does not implement Healthchecker")
	}
}

func TestLoadFromHCL(t *testing.T) {
	c, err := sinktest.LoadConfig(t, Type, `
  endpoint    = "https://logs-prod.grafana.net"
  format      = "json"
  compression = "none"
  encoding    = "text"
  labels = {
    namespace = "{{ nomad.namespace }}"
    job       = "{{ nomad.job_name }}"
  }
  label_defaults      = { namespace = "none" }
  structured_metadata = { alloc_id = "{{ nomad.alloc_id }}" }
  tenant_id           = "{{ nomad.namespace }}"
  default_tenant_id   = "shared"
  allow_high_cardinality_labels = true
  auth {
    strategy = "basic"
    user     = "123456"
    password = env("GRAFANA_CLOUD_TOKEN")
  }
  batch {
    max_bytes = "512KiB"
  }
  request { concurrency = 2 }
  healthcheck {
    path     = "/loki/api/v1/status/buildinfo"
    required = true
  }
`, map[string]string{"GRAFANA_CLOUD_TOKEN": "glc_x"})
	if err != nil {
		t.Fatal(err)
	}
	got := c.(*Config)
	want := NewConfig()
	want.Endpoint, want.Format, want.Compression, want.Encoding = "https://logs-prod.grafana.net", FormatJSON, CompressionNone, EncodingText
	want.Labels = map[string]string{"namespace": "{{ nomad.namespace }}", "job": "{{ nomad.job_name }}"}
	want.LabelDefaults = map[string]string{"namespace": "none"}
	want.StructuredMetadata = map[string]string{"alloc_id": "{{ nomad.alloc_id }}"}
	want.TenantID, want.DefaultTenantID, want.AllowHighCardinalityLabels = "{{ nomad.namespace }}", "shared", true
	want.Auth = &httpclient.AuthConfig{Strategy: "basic", User: "123456", Password: "glc_x"}
	want.Batch.MaxBytes = 512 << 10
	want.Request.Concurrency = 2
	want.Healthcheck = HealthcheckConfig{Config: healthcheck.Config{Enabled: true, Required: true}, Path: "/loki/api/v1/status/buildinfo"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
	}
	for body, wantErr := range map[string]string{
		`format = "json"`: `the argument "endpoint" is required`,
		`endpoint = "http://x"` + "\n" + `format = "avro"`:                               `expected one of "protobuf", "json"`,
		`endpoint = "http://x"` + "\n" + `compression = "gzip"`:                          `must be "snappy" with format "protobuf"`,
		`endpoint = "http://x"` + "\n" + `labels = { "a-b" = "x" }`:                      `"a-b" is not a valid name`,
		`endpoint = "http://x"` + "\n" + `auth {` + "\n" + `strategy = "digest"` + "\n}": `expected one of "basic", "bearer"`,
	} {
		_, err := sinktest.LoadConfig(t, Type, body, nil)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(wantErr)) {
			t.Errorf("%q: error %v, want one containing %q", body, err, wantErr)
		}
	}
}
