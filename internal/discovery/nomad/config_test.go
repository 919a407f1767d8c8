package nomad

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/drover-dev/drover/internal/config"
)

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.BlockingWait != 5*time.Minute || c.ResyncInterval != 5*time.Minute {
		t.Errorf("defaults: %+v", c)
	}
}

func fieldsOf(err error) []string {
	var out []string
	j, ok := err.(interface{ Unwrap() []error })
	errs := []error{err}
	if ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *config.FieldError
		if errors.As(e, &fe) {
			out = append(out, fe.Field)
		} else {
			out = append(out, "?"+e.Error())
		}
	}
	slices.Sort(out)
	return out
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.Nomad.Address = "127.0.0.1:4646"
	c.Nomad.CertFile = "/etc/cert.pem"
	c.AllocDir = "relative/alloc"
	c.BlockingWait = 11 * time.Minute
	c.ResyncInterval = time.Millisecond
	c.RetryInitialBackoff = 0
	c.RetryMaxBackoff = -1
	c.Include.Jobs = []string{"[x"}
	c.Exclude.Tasks = []string{""}
	got := fieldsOf(c.Validate())
	want := []string{
		"alloc_dir", "blocking_wait", "exclude.tasks", "include.jobs", "nomad.address", "nomad.key_file",
		"resync_interval", "retry_initial_backoff", "retry_max_backoff",
	}
	if !slices.Equal(got, want) {
		t.Errorf("fields = %v\nwant     %v", got, want)
	}
}

func TestClientConfigValidate(t *testing.T) {
	for _, addr := range []string{"http://127.0.0.1:4646", "https://nomad.service:4646", "unix:///var/run/nomad.sock"} {
		c := ClientConfig{Address: addr}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{"ftp://x", "http://", "://bad"} {
		c := ClientConfig{Address: addr}
		if err := c.Validate(); err == nil {
			t.Errorf("%s: want an error", addr)
		}
	}
	c := ClientConfig{KeyFile: "/k"}
	if got := fieldsOf(c.Validate()); !slices.Equal(got, []string{"cert_file"}) {
		t.Errorf("key without cert: %v", got)
	}
}

func TestAPIConfigFallsBackToEnvironment(t *testing.T) {
	t.Setenv("NOMAD_ADDR", "https://env:4646")
	t.Setenv("NOMAD_TOKEN", "env-token")
	t.Setenv("NOMAD_REGION", "env-region")
	t.Setenv("NOMAD_NAMESPACE", "env-ns")
	t.Setenv("NOMAD_CACERT", "/env/ca.pem")
	t.Setenv("NOMAD_CAPATH", "/env/ca")
	t.Setenv("NOMAD_CLIENT_CERT", "/env/cert.pem")
	t.Setenv("NOMAD_CLIENT_KEY", "/env/key.pem")
	t.Setenv("NOMAD_TLS_SERVER_NAME", "env.nomad")
	t.Setenv("NOMAD_SKIP_VERIFY", "true")

	cfg := ClientConfig{}.APIConfig()
	if cfg.Address != "https://env:4646" || cfg.SecretID != "env-token" || cfg.Region != "env-region" ||
		cfg.Namespace != "" || cfg.TLSConfig.CACert != "/env/ca.pem" || cfg.TLSConfig.CAPath != "/env/ca" ||
		cfg.TLSConfig.ClientCert != "/env/cert.pem" || cfg.TLSConfig.ClientKey != "/env/key.pem" ||
		cfg.TLSConfig.TLSServerName != "env.nomad" || !cfg.TLSConfig.Insecure {
		t.Errorf("environment not used (or NOMAD_NAMESPACE, which every task has, used): %+v %+v", cfg, cfg.TLSConfig)
	}

	cfg = ClientConfig{
		Address: "http://block:4646", Token: "block-token", Region: "r",
		CAFile: "/b/ca.pem", CAPath: "/b/ca", CertFile: "/b/cert.pem", KeyFile: "/b/key.pem", TLSServerName: "b.nomad",
	}.APIConfig()
	if cfg.Address != "http://block:4646" || cfg.SecretID != "block-token" || cfg.Region != "r" ||
		cfg.TLSConfig.CACert != "/b/ca.pem" || cfg.TLSConfig.CAPath != "/b/ca" || cfg.TLSConfig.ClientCert != "/b/cert.pem" ||
		cfg.TLSConfig.ClientKey != "/b/key.pem" || cfg.TLSConfig.TLSServerName != "b.nomad" {
		t.Errorf("block does not win over the environment: %+v %+v", cfg, cfg.TLSConfig)
	}
}

func TestAPIConfigDefaultAddress(t *testing.T) {
	t.Setenv("NOMAD_ADDR", "")
	if got := (ClientConfig{}).APIConfig().Address; got != "http://127.0.0.1:4646" {
		t.Errorf("default address = %q", got)
	}
	if _, err := (ClientConfig{CAFile: "/does/not/exist.pem"}).NewClient(); err == nil {
		t.Error("missing CA file: want an error from NewClient")
	}
}

// TestConfigDecodesFromHCL decodes the documented block with drover's
// config decoder.
func TestConfigDecodesFromHCL(t *testing.T) {
	src := `
nomad {
  address         = "https://127.0.0.1:4646"
  token           = "secret"
  tls_skip_verify = true
}
node_id         = "6f986d5f-16ad-4f62-e284-9cb5da6ee2da"
alloc_dir       = "/srv/nomad/alloc"
blocking_wait   = "2m"
resync_interval = "10m"
include {
  namespaces = ["apps", "web-*"]
}
exclude {
  tasks = ["connect-proxy-*"]
  jobs  = ["backup"]
}
`
	f, diags := hclparse.NewParser().ParseHCL([]byte(src), "test.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cfg := DefaultConfig()
	if _, diags := config.DecodeBody(f.Body, nil, &cfg, false, "", nil); diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Nomad.Address != "https://127.0.0.1:4646" || !cfg.Nomad.TLSSkipVerify || cfg.NodeID == "" ||
		cfg.AllocDir != "/srv/nomad/alloc" || cfg.BlockingWait != 2*time.Minute || cfg.ResyncInterval != 10*time.Minute ||
		!slices.Equal(cfg.Include.Namespaces, []string{"apps", "web-*"}) || !slices.Equal(cfg.Exclude.Jobs, []string{"backup"}) ||
		cfg.RetryMaxBackoff != DefaultRetryMaxBackoff {
		t.Errorf("decoded %+v", cfg)
	}
}
