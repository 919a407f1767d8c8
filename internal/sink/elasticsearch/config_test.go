package elasticsearch

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

func TestConfigValidate(t *testing.T) {
	mod := func(f func(c *Config)) *Config {
		c := NewConfig()
		c.Endpoint = "https://es.example:9200"
		f(c)
		return c
	}
	for name, c := range map[string]*Config{
		"defaults":          mod(func(*Config) {}),
		"templated index":   mod(func(c *Config) { c.Index = "logs-{{ nomad.namespace }}-{{ nomad.job_name }}" }),
		"create":            mod(func(c *Config) { c.Action = ActionCreate }),
		"data stream":       mod(func(c *Config) { c.Mode = ModeDataStream }),
		"data stream parts": mod(func(c *Config) { c.Mode = ModeDataStream; c.DataStream.Dataset = "nomad.{{ nomad.job_name }}" }),
		"data stream name":  mod(func(c *Config) { c.Mode = ModeDataStream; c.DataStream.Name = "logs-nomad-{{ nomad.namespace }}" }),
		"api key":           mod(func(c *Config) { c.Auth = &httpclient.AuthConfig{Strategy: "api_key", APIKey: "k"} }),
		"id field":          mod(func(c *Config) { c.IDField = "trace.id" }),
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	cases := map[string]*Config{
		"endpoint":                    mod(func(c *Config) { c.Endpoint = "es:9200" }),
		"endpoint ":                   mod(func(c *Config) { c.Endpoint = "https://es/?pretty" }),
		"mode":                        mod(func(c *Config) { c.Mode = "index" }),
		"index":                       mod(func(c *Config) { c.Index = "Logs-{{ x }}" }),
		"index ":                      mod(func(c *Config) { c.Index = "logs {{ x }}" }),
		"index  ":                     mod(func(c *Config) { c.Index = "_logs" }),
		"index   ":                    mod(func(c *Config) { c.Index = "logs-{{ x" }),
		"default_index":               mod(func(c *Config) { c.DefaultIndex = "" }),
		"action":                      mod(func(c *Config) { c.Mode, c.Action = ModeDataStream, ActionIndex }),
		"action ":                     mod(func(c *Config) { c.Action = "update" }),
		"data_stream.name":            mod(func(c *Config) { c.Mode = ModeDataStream; c.DataStream.Name = "x"; c.DataStream.Type = "logs" }),
		"data_stream.dataset":         mod(func(c *Config) { c.Mode = ModeDataStream; c.DataStream.Dataset = "my-app" }),
		"data_stream.type":            mod(func(c *Config) { c.Mode = ModeDataStream; c.DataStream.Type = "Logs" }),
		"data_stream.default_dataset": mod(func(c *Config) { c.Mode = ModeDataStream; c.DataStream.DefaultDataset = "" }),
		"timestamp_field":             mod(func(c *Config) { c.Mode, c.TimestampField = ModeDataStream, "timestamp" }),
		"timestamp_field ":            mod(func(c *Config) { c.TimestampField = "" }),
		"id_field":                    mod(func(c *Config) { c.IDField = "a..b" }),
		"pipeline":                    mod(func(c *Config) { c.Pipeline = "a\nb" }),
		"compression":                 mod(func(c *Config) { c.Compression = "zstd" }),
		"dead_letter":                 mod(func(c *Config) { c.DeadLetter = &DeadLetterConfig{} }),
		"auth.api_key":                mod(func(c *Config) { c.Auth = &httpclient.AuthConfig{Strategy: "api_key"} }),
		"tls.key_file":                mod(func(c *Config) { c.TLS = &httpclient.TLSConfig{CertFile: "c.pem"} }),
		"batch.max_bytes":             mod(func(c *Config) { c.Batch.MaxBytes = 0 }),
		"request.timeout":             mod(func(c *Config) { c.Request.Timeout = 0 }),
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
		t.Fatal("elasticsearch sink not registered")
	}
	cfg := reg.NewConfig().(*Config)
	if cfg.Mode != ModeBulk || cfg.Index != "drover" || cfg.action() != ActionIndex || cfg.Compression != CompressionGzip ||
		cfg.TimestampField != "@timestamp" || !cfg.Healthcheck.Enabled || cfg.Batch.MaxEvents != 5000 ||
		cfg.Batch.MaxBytes != 10<<20 || cfg.Request.Concurrency != 4 {
		t.Fatalf("defaults %+v", cfg)
	}
	cfg.Mode = ModeDataStream
	if cfg.action() != ActionCreate {
		t.Fatal("data streams take create")
	}
	cfg.Endpoint = "http://127.0.0.1:1"
	s, err := reg.BuildSink(sinktest.Context(t, Type), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(component.Healthchecker); !ok {
		t.Fatal("the elasticsearch sink does not implement Healthchecker")
	}
}

func TestLoadFromHCL(t *testing.T) {
	c, err := sinktest.LoadConfig(t, Type, `
  endpoint = "https://es.example:9200"
  mode     = "data_stream"
  data_stream {
    dataset   = "nomad.{{ nomad.job_name }}"
    namespace = "{{ nomad.namespace }}"
  }
  id_field    = "trace_id"
  pipeline    = "nomad-logs"
  compression = "none"
  auth {
    strategy = "api_key"
    api_key  = env("ES_API_KEY")
  }
  batch { max_events = 2000 }
  request {
    concurrency = 8
    timeout     = "30s"
  }
  healthcheck { required = true }
`, map[string]string{"ES_API_KEY": "a2V5"})
	if err != nil {
		t.Fatal(err)
	}
	want := NewConfig()
	want.Endpoint, want.Mode, want.IDField, want.Pipeline, want.Compression = "https://es.example:9200", ModeDataStream, "trace_id", "nomad-logs", CompressionNone
	want.DataStream.Dataset, want.DataStream.Namespace = "nomad.{{ nomad.job_name }}", "{{ nomad.namespace }}"
	want.Auth = &httpclient.AuthConfig{Strategy: "api_key", APIKey: "a2V5"}
	want.Batch.MaxEvents = 2000
	want.Request.Concurrency, want.Request.Timeout = 8, 30*time.Second
	want.Healthcheck.Required = true
	if got := c.(*Config); !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
	}
	for body, wantErr := range map[string]string{
		`mode = "bulk"`: `the argument "endpoint" is required`,
		`endpoint = "http://x"` + "\n" + `mode = "stream"`:                                                 `expected one of "bulk", "data_stream"`,
		`endpoint = "http://x"` + "\n" + `index = "Logs"`:                                                  "must be lower case",
		`endpoint = "http://x"` + "\n" + `dead_letter { path = "x" }`:                                      `replaced by the sink's dead-letter output`,
		`endpoint = "http://x"` + "\n" + `data_stream { dataset = "a-b" }` + "\n" + `mode = "data_stream"`: "must not contain '-'",
	} {
		_, err := sinktest.LoadConfig(t, Type, body, nil)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(wantErr)) {
			t.Errorf("%q: error %v, want one containing %q", body, err, wantErr)
		}
	}
}
