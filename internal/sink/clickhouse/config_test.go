package clickhouse

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

func TestConfigFromHCL(t *testing.T) {
	c, err := sinktest.LoadConfig(t, Type, `
  endpoint                   = "https://ch.example.com:8443"
  database                   = "logs"
  table                      = "nomad_{{ nomad.namespace }}"
  default_table              = "nomad_unknown"
  compression                = "none"
  async_insert               = true
  skip_unknown_fields        = true
  date_time_best_effort      = true
  insert_deduplication_token = "always"
  settings                   = { input_format_import_nested_json = "1", insert_quorum = "2" }
  headers                    = { "X-Team" = "platform" }
  auth {
    strategy = "headers"
    user     = "drover"
    password = env("CH_PASSWORD")
  }
  tls { ca_file = "/etc/drover/ca.pem" }
  batch {
    max_events = 50000
    max_bytes  = "8MiB"
    timeout    = "5s"
  }
  request { concurrency = 4 }
  healthcheck { required = true }
`, map[string]string{"CH_PASSWORD": "pw"})
	if err != nil {
		t.Fatal(err)
	}
	got := c.(*Config)
	want := NewConfig()
	want.Endpoint, want.Database, want.Table, want.DefaultTable = "https://ch.example.com:8443", "logs", "nomad_{{ nomad.namespace }}", "nomad_unknown"
	want.Compression, want.AsyncInsert, want.SkipUnknownFields, want.DateTimeBestEffort = "none", true, true, true
	want.InsertDeduplicationToken = "always"
	want.Settings = map[string]string{"input_format_import_nested_json": "1", "insert_quorum": "2"}
	want.Headers = map[string]string{"X-Team": "platform"}
	want.Auth = &AuthConfig{Strategy: "headers", User: "drover", Password: "pw"}
	want.TLS = &httpclient.TLSConfig{CAFile: "/etc/drover/ca.pem"}
	want.Batch.MaxEvents, want.Batch.MaxBytes, want.Batch.Timeout = 50000, 8<<20, 5*time.Second
	want.Request.Concurrency = 4
	want.Healthcheck.Required = true
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := sinktest.LoadConfig(t, Type, `
  endpoint = "http://127.0.0.1:8123"
  table    = "logs"
  auth { user = "drover" }
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.(*Config)
	if got.Auth.Strategy != AuthBasic || got.Compression != "gzip" || got.InsertDeduplicationToken != "auto" ||
		got.Batch.MaxEvents != 10000 || got.Batch.MaxBytes != 10<<20 || got.Batch.Timeout != time.Second ||
		got.Request.Concurrency != 2 || !got.Healthcheck.Enabled || got.Healthcheck.Required || got.AsyncInsert {
		t.Fatalf("defaults: %+v auth %+v", got, got.Auth)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		body, field, msg string
	}{
		{`endpoint = "ftp://x"` + "\n table = \"t\"", "endpoint", "http"},
		{`endpoint = "http://x:8123/?database=logs"` + "\n table = \"t\"", "endpoint", "query string"},
		{`endpoint = "http://u:p@x:8123"` + "\n table = \"t\"\n auth { user = \"a\" }", "endpoint", "credentials"},
		{`endpoint = "http://x"` + "\n table = \"logs_{{ nomad.namespace\"", "table", "unclosed"},
		{`endpoint = "http://x"` + "\n table = \"\"", "table", "empty"},
		{`endpoint = "http://x"` + "\n table = \"t\"\n database = \"{{ a..b }}\"", "database", "empty path segment"},
		{`endpoint = "http://x"` + "\n table = \"t\"\n default_table = \"{{ x }}\"", "default_table", "plain name"},
		{`endpoint = "http://x"` + "\n table = \"t\"\n default_database = \"d\"", "default_database", "database template"},
		{`endpoint = "http://x"` + "\n table = \"t\"\n settings = { async_insert = \"1\" }", "settings", "set by drover"},
		{`endpoint = "http://x"` + "\n table = \"t\"\n settings = { query_id = \"x\" }", "settings", "set by drover"},
		{`endpoint = "http://x"` + "\n table = \"t\"\n settings = { \"a b\" = \"x\" }", "settings", "not a ClickHouse setting"},
		{`endpoint = "http://x"` + "\n table = \"t\"\n headers = { \"X-ClickHouse-Key\" = \"k\" }\n auth { user = \"a\" }", "headers", "conflicts"},
		{`endpoint = "http://x"` + "\n table = \"t\"\n auth { password = \"p\" }", "", "user"},
		{`endpoint = "http://x"` + "\n table = \"t\"\n batch { max_events = 0 }", "batch.max_events", "at least 1"},
		{`endpoint = "http://x"` + "\n table = \"t\"\n request { concurrency = 0 }", "request.concurrency", "between"},
		{`endpoint = "http://x"` + "\n table = \"t\"\n tls { cert_file = \"c.pem\" }", "tls.key_file", "required"},
	}
	for _, c := range cases {
		_, err := sinktest.LoadConfig(t, Type, c.body, nil)
		if err == nil {
			t.Errorf("%q: no error", c.body)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) || (c.field != "" && !strings.Contains(err.Error(), c.field)) {
			t.Errorf("%q: error %q does not name %q with %q", c.body, err, c.field, c.msg)
		}
		if !strings.Contains(err.Error(), "sink.hcl:") {
			t.Errorf("%q: error %q does not name the file and line", c.body, err)
		}
	}
	// Enum attributes are checked by the loader.
	_, err := sinktest.LoadConfig(t, Type, `endpoint = "http://x"`+"\n table = \"t\"\n insert_deduplication_token = \"sometimes\"", nil)
	if err == nil || !strings.Contains(err.Error(), `"auto", "always", "never"`) {
		t.Errorf("enum error %v", err)
	}
	var fe *config.FieldError
	if err := (&Config{}).Validate(); err == nil || !asFieldError(err, &fe) {
		t.Errorf("Validate of an empty config: %v", err)
	}
}

func asFieldError(err error, fe **config.FieldError) bool {
	e, ok := err.(*config.FieldError)
	*fe = e
	return ok
}
