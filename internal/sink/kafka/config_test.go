package kafka

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

func TestConfigFromHCL(t *testing.T) {
	c, err := sinktest.LoadConfig(t, Type, `
  brokers               = ["kafka-1:9092", "kafka-2:9092"]
  topic                 = "logs-{{ nomad.namespace }}"
  default_topic         = "logs-other"
  key                   = "{{ nomad.alloc_id }}"
  headers               = { "job" = "{{ nomad.job_name }}" }
  encoding              = "text"
  compression           = "zstd"
  acks                  = "leader"
  idempotent            = false
  client_id             = "drover-node-1"
  delivery_timeout      = "2m"
  request_timeout       = "20s"
  connect_timeout       = "5s"
  max_buffered_records  = 5000
  max_buffered_bytes    = "32MiB"
  retry_initial_backoff = "500ms"
  retry_max_backoff     = "1m"
  batch {
    max_bytes = "2MiB"
    timeout   = "50ms"
  }
  sasl {
    mechanism = "scram-sha-512"
    username  = "drover"
    password  = env("KAFKA_PASSWORD")
  }
  tls { ca_file = "/etc/drover/kafka-ca.pem" }
  healthcheck { required = true }
`, map[string]string{"KAFKA_PASSWORD": "pw"})
	if err != nil {
		t.Fatal(err)
	}
	want := NewConfig()
	want.Brokers = []string{"kafka-1:9092", "kafka-2:9092"}
	want.Topic, want.DefaultTopic, want.Key = "logs-{{ nomad.namespace }}", "logs-other", "{{ nomad.alloc_id }}"
	want.Headers = map[string]string{"job": "{{ nomad.job_name }}"}
	want.Encoding, want.Compression, want.Acks, want.Idempotent = "text", "zstd", "leader", false
	want.ClientID = "drover-node-1"
	want.DeliveryTimeout, want.RequestTimeout, want.ConnectTimeout = 2*time.Minute, 20*time.Second, 5*time.Second
	want.MaxBufferedRecords, want.MaxBufferedBytes = 5000, 32<<20
	want.RetryInitialBackoff, want.RetryMaxBackoff = 500*time.Millisecond, time.Minute
	want.Batch = BatchConfig{MaxBytes: 2 << 20, Timeout: 50 * time.Millisecond}
	want.SASL = &SASLConfig{Mechanism: "scram-sha-512", Username: "drover", Password: "pw"}
	want.TLS = &httpclient.TLSConfig{CAFile: "/etc/drover/kafka-ca.pem"}
	want.Healthcheck.Required = true
	if got := c.(*Config); !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := sinktest.LoadConfig(t, Type, `
  brokers = ["127.0.0.1:9092"]
  topic   = "logs"
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.(*Config)
	if got.Acks != "all" || !got.Idempotent || got.Compression != "none" || got.Encoding != "json" ||
		got.DeliveryTimeout != 30*time.Second || got.MaxBufferedRecords != 10000 || got.Batch.MaxBytes != 1000012 ||
		got.Batch.Timeout != 10*time.Millisecond || !got.Healthcheck.Enabled || got.Healthcheck.Required {
		t.Fatalf("defaults %+v", got)
	}
}

func TestConfigErrors(t *testing.T) {
	base := "brokers = [\"k:9092\"]\n topic = \"logs\"\n"
	cases := []struct{ body, field, msg string }{
		{"brokers = []\n topic = \"logs\"", "brokers", "at least one"},
		{"brokers = [\"k 1:9092\"]\n topic = \"logs\"", "brokers", "host:port"},
		{"brokers = [\"k:\"]\n topic = \"logs\"", "brokers", "host:port"},
		{"brokers = [\"k:9092\"]\n topic = \"logs/{{ x }\"", "topic", "unclosed"},
		{"brokers = [\"k:9092\"]\n topic = \"bad topic\"", "topic", "not a valid Kafka topic"},
		{base + "default_topic = \"a/b\"", "default_topic", "not a valid Kafka topic"},
		{base + "key = \"{{ }}\"", "key", "empty field reference"},
		{base + "headers = { job = \"{{ a..b }}\" }", "headers", "empty path segment"},
		{base + "acks = \"leader\"", "acks", "idempotent = false"},
		{base + "delivery_timeout = \"500ms\"", "delivery_timeout", "at least 1s"},
		{base + "max_buffered_records = 0", "max_buffered_records", "at least 1"},
		{base + "max_buffered_bytes = \"1KiB\"", "max_buffered_bytes", "batch.max_bytes"},
		{base + "retry_max_backoff = \"1ms\"", "retry_max_backoff", "retry_initial_backoff"},
		{base + "batch { max_bytes = 100 }", "batch.max_bytes", "between"},
		{base + "sasl {\n mechanism = \"plain\"\n username = \"\"\n }", "sasl.username", "empty"},
		{base + "tls { key_file = \"k.pem\" }", "tls.cert_file", "required"},
	}
	for _, c := range cases {
		_, err := sinktest.LoadConfig(t, Type, c.body, nil)
		if err == nil {
			t.Errorf("%q: no error", c.body)
			continue
		}
		if !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), "sink.hcl:") {
			t.Errorf("%q: error %q does not name %q with %q", c.body, err, c.field, c.msg)
		}
	}
	for _, enum := range []string{`compression = "brotli"`, `acks = "some"`, `encoding = "avro"`, "sasl {\n mechanism = \"gssapi\"\n username = \"u\"\n }"} {
		if _, err := sinktest.LoadConfig(t, Type, base+enum, nil); err == nil || !strings.Contains(err.Error(), "Expected one of") {
			t.Errorf("%s: %v", enum, err)
		}
	}
}
