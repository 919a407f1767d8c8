package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
)

type secretSinkConfig struct {
	URI     string            `hcl:"uri"`
	User    string            `hcl:"user"`
	Pass    string            `hcl:"password"`
	Headers map[string]string `hcl:"headers"`
	Opaque  string            `hcl:"opaque" secret:"true"`
	Mode    string            `hcl:"mode" enum:"a,b"`
	Auth    struct {
		Token string `hcl:"token"`
	} `hcl:"auth,block"`
}

func (*secretSinkConfig) Validate() error { return nil }

func init() {
	component.Register(component.Registration{
		Kind: component.KindSink, Type: "cfgtest_secret_sink",
		NewConfig: func() component.Config { return &secretSinkConfig{Mode: "a"} },
		BuildSink: func(component.Context, component.Config) (component.Sink, error) { return nil, nil },
	})
}

func TestSecretsAreRecordedAndErrorsRedacted(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "api-key")
	os.WriteFile(keyFile, []byte("from-a-file-0001\n"), 0o600)
	src := `
source "cfgtest_source" "app" { include = ["/x"] }
sink "cfgtest_secret_sink" "out" {
  inputs   = ["app"]
  uri      = "https://elastic:url-pass-0002@es.example:9200"
  user     = "elastic"
  password = "plain-pass-0003"
  headers  = { Authorization = "Bearer header-0004", "X-Scope-OrgID" = "tenant-1" }
  opaque   = file("` + keyFile + `")
  auth {
    token = env("SINK_TOKEN")
  }
}
`
	vars := map[string]string{"SINK_TOKEN": "env-token-0005", "PLAIN": "not-secret-0006"}
	cfg, err := config.Load("drover.hcl", []byte(src), env(vars))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Component("out").Config.(*secretSinkConfig)
	if c.Opaque != "from-a-file-0001" {
		t.Fatalf("file() = %q (one trailing newline is dropped)", c.Opaque)
	}
	for _, want := range []string{"from-a-file-0001", "url-pass-0002", "plain-pass-0003", "Bearer header-0004", "env-token-0005"} {
		if !slices.Contains(cfg.Secrets, want) {
			t.Errorf("secret %q not recorded: %q", want, cfg.Secrets)
		}
	}
	for _, not := range []string{"elastic", "tenant-1", "https://elastic:url-pass-0002@es.example:9200"} {
		if slices.Contains(cfg.Secrets, not) {
			t.Errorf("%q recorded as a secret", not)
		}
	}

	// An error whose message would show a secret shows the mask.
	bad := strings.Replace(src, `user     = "elastic"`, `user     = "elastic"
  mode     = "plain-pass-0003"`, 1)
	_, err = config.Load("drover.hcl", []byte(bad), env(vars))
	if err == nil || strings.Contains(err.Error(), "plain-pass-0003") || !strings.Contains(err.Error(), `got "[redacted]"`) {
		t.Fatalf("error: %v", err)
	}
	// file() of a missing file names the file and line.
	missing := strings.Replace(src, keyFile, filepath.Join(dir, "nope"), 1)
	if _, err := config.Load("drover.hcl", []byte(missing), env(vars)); err == nil || !strings.Contains(err.Error(), "drover.hcl:9,") {
		t.Fatalf("file() of a missing file: %v", err)
	}
}

func TestAdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o600)
		return p
	}
	good := write("good", "  0123456789abcdef0123456789abcdef\n")
	load := func(admin string) (*config.Config, error) {
		return config.Load("drover.hcl", []byte("admin {\n"+admin+"\n}\n"+minimalTopology), env(nil))
	}
	cfg, err := load(`token_file = "` + good + `"
unauthenticated = ["/health", "/ready"]`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Admin.Token != "0123456789abcdef0123456789abcdef" || !slices.Contains(cfg.Secrets, cfg.Admin.Token) {
		t.Fatalf("token %q, secrets %q", cfg.Admin.Token, cfg.Secrets)
	}
	for admin, want := range map[string]string{
		`token_file = "` + filepath.Join(dir, "missing") + `"`:                       "drover.hcl:2,1: Invalid admin.token_file; Cannot be read",
		`token_file = "` + write("empty", "\n") + `"`:                                "is empty",
		`token_file = "` + write("short", "abc") + `"`:                               "shorter than 16 characters",
		`token_file = "` + write("spaced", "0123456789 abcdef0123456789") + `"`:      "holds white space",
		`unauthenticated = ["/health"]`:                                              "Only applies with admin.token_file",
		`token_file = "` + good + `"` + "\n" + `unauthenticated = ["/debug/pprof/"]`: `"/debug/pprof/" is not a path the endpoint can open`,
	} {
		_, err := load(admin)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", admin, err, want)
		}
	}
}

func TestDumpShowsDefaultsAndHidesSecrets(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tok, []byte("admin-token-0123456789"), 0o600)
	cfg, err := config.Load("drover.hcl", []byte(`admin { token_file = "`+tok+`" }
source "cfgtest_source" "app" { include = ["/x"] }
sink "cfgtest_secret_sink" "out" {
  inputs   = ["app"]
  password = "plain-pass-0003"
  headers  = { Authorization = "Bearer header-0004" }
}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	b, err := cfg.Dump()
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, secretValue := range []string{"plain-pass-0003", "header-0004", "admin-token-0123456789"} {
		if strings.Contains(out, secretValue) {
			t.Errorf("the dump shows %q:\n%s", secretValue, out)
		}
	}
	for _, want := range []string{`"shutdown_timeout": "30s"`, `"token_file": "` + tok + `"`, `"password": "[redacted]"`,
		`"Authorization": "[redacted]"`, `"max_events": 10000`, `"sink_failing_after": "1m0s"`, `"id": "out"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in the dump:\n%s", want, out)
		}
	}
}
