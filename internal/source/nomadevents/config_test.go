package nomadevents

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
)

// A sink type for loading test configurations (a topology needs one).
type nullSink struct{}

type nullSinkConfig struct{}

func (*nullSinkConfig) Validate() error { return nil }

func (nullSink) Run(ctx context.Context, in <-chan *event.Batch) error {
	for b := range in {
		b.Ack.Release(event.Delivered)
	}
	return nil
}

func init() {
	component.Register(component.Registration{
		Kind: component.KindSink, Type: "nomadevents_test_null",
		NewConfig: func() component.Config { return &nullSinkConfig{} },
		BuildSink: func(component.Context, component.Config) (component.Sink, error) { return nullSink{}, nil },
	})
}

func load(t *testing.T, source string) (*Config, error) {
	t.Helper()
	src := "source \"nomad_events\" \"cluster\" {\n" + source + "\n}\n" +
		"sink \"nomadevents_test_null\" \"out\" {\n  inputs = [\"cluster\"]\n}\n"
	cfg, err := config.Load("drover.hcl", []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	return cfg.Sources()[0].Config.(*Config), nil
}

func TestConfigDefaults(t *testing.T) {
	c, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Topics, ",") != "Job,Allocation,Deployment,Evaluation,Node" || c.Namespace != "*" ||
		c.StartAt != "oldest" || c.Resync || c.HeartbeatTimeout != 90*time.Second ||
		c.ReconnectInitialBackoff != time.Second || c.ReconnectMaxBackoff != time.Minute ||
		c.RegressionGrace != 30*time.Second || c.CheckpointInterval != time.Second || c.MaxFrameBytes != 64<<20 ||
		c.Nomad != (ClientConfig{}) {
		t.Fatalf("defaults %+v", c)
	}
}

func TestConfigAllOptions(t *testing.T) {
	c, err := load(t, `
  nomad {
    address         = "https://nomad.example:4646"
    token           = "secret"
    region          = "eu"
    ca_file         = "/ca.pem"
    ca_path         = "/cas"
    cert_file       = "/cert.pem"
    key_file        = "/key.pem"
    tls_server_name = "server.eu.nomad"
    tls_skip_verify = true
  }
  topics                    = ["Job:web", "Node"]
  namespace                 = "apps"
  start_at                  = "index:1234"
  resync                    = true
  heartbeat_timeout         = "2m"
  reconnect_initial_backoff = "250ms"
  reconnect_max_backoff     = "30s"
  regression_grace          = "0s"
  checkpoint_interval       = "5s"
  max_frame_bytes           = "16MiB"`)
	if err != nil {
		t.Fatal(err)
	}
	want := ClientConfig{Address: "https://nomad.example:4646", Token: "secret", Region: "eu", CAFile: "/ca.pem",
		CAPath: "/cas", CertFile: "/cert.pem", KeyFile: "/key.pem", TLSServerName: "server.eu.nomad", TLSSkipVerify: true}
	if c.Nomad != want || strings.Join(c.Topics, ",") != "Job:web,Node" || c.Namespace != "apps" ||
		c.StartAt != "index:1234" || !c.Resync || c.HeartbeatTimeout != 2*time.Minute ||
		c.ReconnectInitialBackoff != 250*time.Millisecond || c.ReconnectMaxBackoff != 30*time.Second ||
		c.RegressionGrace != 0 || c.CheckpointInterval != 5*time.Second || c.MaxFrameBytes != 16<<20 {
		t.Fatalf("decoded %+v", c)
	}
	if sp, _ := parseStartAt(c.StartAt); sp.index != 1234 || sp.now {
		t.Fatalf("start_at %+v", sp)
	}
	if got := parseTopics(c.Topics); got[0] != (topicFilter{"Job", "web"}) || got[1] != (topicFilter{"Node", "*"}) {
		t.Fatalf("topics %+v", got)
	}
}

// Each mistake is reported with the file, the line and the attribute.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ source, want string }{
		{`topics = []`, "drover.hcl:2,3: Invalid topics"},
		{`topics = ["Job:a:b"]`, `want "Topic" or "Topic:FilterKey"`},
		{`topics = [":web"]`, "the topic name is empty"},
		{`topics = ["Job:"]`, "the filter key is empty"},
		{`namespace = ""`, "Invalid namespace"},
		{`start_at = "later"`, `Want "oldest", "now" or "index:N", got "later"`},
		{`start_at = "index:0"`, "the index must be a positive integer"},
		{`heartbeat_timeout = "30s"`, "Must be longer than Nomad's heartbeat interval (30s)"},
		{`reconnect_initial_backoff = "0s"`, "Invalid reconnect_initial_backoff"},
		{`reconnect_max_backoff = "10ms"`, "Must be at least reconnect_initial_backoff"},
		{`regression_grace = "-1s"`, "must not be negative"},
		{`checkpoint_interval = "0s"`, "Invalid checkpoint_interval"},
		{`max_frame_bytes = "1KiB"`, "Invalid max_frame_bytes"},
		{`nomad { address = "ftp://x" }`, "Invalid nomad.address"},
		{`nomad { cert_file = "/c.pem" }`, "drover.hcl:2,3: Invalid nomad.key_file"},
		{`nomad { namespace = "x" }`, `Unsupported argument; An argument named "namespace"`},
		{`topic = ["Job"]`, `Unsupported argument; An argument named "topic"`},
	} {
		_, err := load(t, "  "+tc.source)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.source, err, tc.want)
		}
	}
}

// An empty nomad block is the NOMAD_* environment; attributes override it.
// NOMAD_NAMESPACE never applies: the namespace option decides.
func TestClientConfigEnvironment(t *testing.T) {
	t.Setenv("NOMAD_ADDR", "https://env:4646")
	t.Setenv("NOMAD_TOKEN", "env-token")
	t.Setenv("NOMAD_REGION", "env-region")
	t.Setenv("NOMAD_NAMESPACE", "env-ns")
	t.Setenv("NOMAD_SKIP_VERIFY", "true")
	t.Setenv("NOMAD_TLS_SERVER_NAME", "env.nomad")
	got := ClientConfig{}.APIConfig()
	if got.Address != "https://env:4646" || got.SecretID != "env-token" || got.Region != "env-region" ||
		got.Namespace != "" || !got.TLSConfig.Insecure || got.TLSConfig.TLSServerName != "env.nomad" {
		t.Fatalf("from the environment: %+v %+v", got, got.TLSConfig)
	}
	got = ClientConfig{Address: "http://cfg:4646", Token: "cfg-token", Region: "cfg", TLSServerName: "cfg.nomad"}.APIConfig()
	if got.Address != "http://cfg:4646" || got.SecretID != "cfg-token" || got.Region != "cfg" ||
		got.TLSConfig.TLSServerName != "cfg.nomad" {
		t.Fatalf("overridden: %+v", got)
	}
	// A missing client certificate is reported when the source is built.
	_, err := New(component.Context{ID: "x", DataDir: t.TempDir()}, &Config{Nomad: ClientConfig{CertFile: "/nope.pem", KeyFile: "/nope.key"}})
	if err == nil || !strings.Contains(err.Error(), "creating Nomad client") {
		t.Fatalf("err %v", err)
	}
}

func TestStreamPathAndSubscriptionKey(t *testing.T) {
	if got := streamPath([]string{"Job:web", "Node"}); got != "/v1/event/stream?topic=Job%3Aweb&topic=Node" {
		t.Fatalf("path %s", got)
	}
	if subscriptionKey([]string{"Node", "Job"}, "*") != subscriptionKey([]string{"Job", "Node"}, "*") ||
		subscriptionKey([]string{"Job"}, "*") == subscriptionKey([]string{"Job"}, "apps") {
		t.Fatal("subscription keys")
	}
}
