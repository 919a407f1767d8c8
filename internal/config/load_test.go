package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
)

type testSourceConfig struct {
	Include  []string          `hcl:"include"`
	ReadFrom string            `hcl:"read_from" enum:"beginning,end"`
	Wait     time.Duration     `hcl:"wait"`
	MaxLine  config.ByteSize   `hcl:"max_line_bytes"`
	Labels   map[string]string `hcl:"labels"`
	Nested   struct {
		Count int `hcl:"count"`
	} `hcl:"nested,block"`
}

func (c *testSourceConfig) Validate() error {
	if len(c.Include) == 0 {
		return config.Errorf("include", "must list at least one pattern")
	}
	if c.Nested.Count < 0 {
		return config.Errorf("nested.count", "must not be negative")
	}
	return nil
}

type testSinkConfig struct {
	URI string `hcl:"uri,required"`
}

func (c *testSinkConfig) Validate() error {
	if !strings.HasPrefix(c.URI, "http") {
		return config.Errorf("uri", "must start with http:// or https://")
	}
	return nil
}

type testTransformConfig struct{}

func (*testTransformConfig) Validate() error { return nil }

func init() {
	component.Register(component.Registration{
		Kind: component.KindSource, Type: "cfgtest_source",
		NewConfig: func() component.Config {
			return &testSourceConfig{ReadFrom: "beginning", Wait: time.Second, MaxLine: 1024}
		},
		BuildSource: func(component.Context, component.Config) (component.Source, error) { return nil, nil },
	})
	component.Register(component.Registration{
		Kind: component.KindSink, Type: "cfgtest_sink",
		NewConfig: func() component.Config { return &testSinkConfig{} },
		BuildSink: func(component.Context, component.Config) (component.Sink, error) { return nil, nil },
	})
	component.Register(component.Registration{
		Kind: component.KindTransform, Type: "cfgtest_transform",
		NewConfig:      func() component.Config { return &testTransformConfig{} },
		BuildTransform: func(component.Context, component.Config) (component.Transform, error) { return nil, nil },
	})
}

func env(vals map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vals[k]; return v, ok }
}

func TestLoadValidConfig(t *testing.T) {
	src := `
data_dir = env("DATA", "/tmp/d")
shutdown_timeout = "5s"
log { level = "debug" }
admin { address = "127.0.0.1:9999" }

source "cfgtest_source" "app" {
  include        = ["/var/log/app/*.log"]
  read_from      = "end"
  max_line_bytes = "64KiB"
  labels         = { team = env("TEAM") }
  nested { count = 3 }
}
source "cfgtest_source" "app-2" { include = ["/x"] }
transform "cfgtest_transform" "t" { inputs = ["app*"] }
sink "cfgtest_sink" "out" {
  inputs = ["t", "app"]
  uri    = "http://127.0.0.1:9000"
  buffer { max_events = 50 }
}
`
	cfg, err := config.Load("drover.hcl", []byte(src), env(map[string]string{"TEAM": "core"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.DataDir != "/tmp/d" || cfg.ShutdownTimeout != 5*time.Second {
		t.Errorf("globals: data_dir=%q shutdown_timeout=%v", cfg.DataDir, cfg.ShutdownTimeout)
	}
	if cfg.Log.Level != "debug" || cfg.Log.Format != "text" {
		t.Errorf("log block: %+v (format default must stay text)", cfg.Log)
	}
	if !cfg.Admin.Enabled || cfg.Admin.Address != "127.0.0.1:9999" {
		t.Errorf("admin: %+v", cfg.Admin)
	}
	app := cfg.Component("app")
	sc := app.Config.(*testSourceConfig)
	if sc.ReadFrom != "end" || sc.MaxLine != 64*1024 || sc.Wait != time.Second || sc.Labels["team"] != "core" || sc.Nested.Count != 3 {
		t.Errorf("source config decoded wrong: %+v", sc)
	}
	if app2 := cfg.Component("app-2").Config.(*testSourceConfig); app2.ReadFrom != "beginning" || app2.MaxLine != 1024 {
		t.Errorf("defaults not kept: %+v", app2)
	}
	if got := cfg.Component("t").Inputs; strings.Join(got, ",") != "app,app-2" {
		t.Errorf("wildcard inputs expanded to %v", got)
	}
	out := cfg.Component("out")
	if out.Buffer.MaxEvents != 50 || out.Buffer.Type != "memory" {
		t.Errorf("buffer: %+v", out.Buffer)
	}
	if got := len(cfg.Sources()); got != 2 {
		t.Errorf("sources: %d", got)
	}
	if c := cfg.Consumers()["app"]; strings.Join(c, ",") != "t,out" {
		t.Errorf("consumers of app: %v", c)
	}
}

func TestFingerprintChangesWithConfig(t *testing.T) {
	load := func(uri string) *config.Config {
		cfg, err := config.Load("a.hcl", []byte(`
source "cfgtest_source" "app" { include = ["/x"] }
sink "cfgtest_sink" "out" {
  inputs = ["app"]
  uri = "`+uri+`"
}`), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	a, b, c := load("http://a"), load("http://a"), load("http://b")
	if a.Component("out").Fingerprint() != b.Component("out").Fingerprint() {
		t.Error("same config, different fingerprints")
	}
	if a.Component("out").Fingerprint() == c.Component("out").Fingerprint() {
		t.Error("changed uri, same fingerprint")
	}
	if a.Component("app").Fingerprint() != c.Component("app").Fingerprint() {
		t.Error("unchanged source got a new fingerprint")
	}
}

func TestLoadErrorsNameFileLineAndField(t *testing.T) {
	const ok = `
source "cfgtest_source" "app" { include = ["/x"] }
sink "cfgtest_sink" "out" {
  inputs = ["app"]
  uri    = "http://x"
}
`
	cases := []struct {
		name string
		src  string
		want []string // substrings of the error
	}{
		{"syntax", "source \"cfgtest_source\" \"app\" {\n  include = [\n}\n", []string{"bad.hcl:"}},
		{"unknown top-level attribute", "colour = 1\n" + ok, []string{"bad.hcl:1,1", `"colour"`}},
		{"unknown block", "logging {}\n" + ok, []string{"bad.hcl:1,1", "logging"}},
		{"unknown attribute in component", "source \"cfgtest_source\" \"app\" {\n include = [\"/x\"]\n bogus = 1\n}\nsink \"cfgtest_sink\" \"out\" {\n inputs=[\"app\"]\n uri=\"http://x\"\n}\n", []string{"bad.hcl:3,2", `"bogus"`}},
		{"unknown source type", "source \"nope\" \"app\" {}\n", []string{"bad.hcl:1,8", `"nope"`, "cfgtest_source"}},
		{"wrong type", "source \"cfgtest_source\" \"app\" {\n include = \"not-a-list\"\n}\nsink \"cfgtest_sink\" \"out\" {\n inputs=[\"app\"]\n uri=\"http://x\"\n}\n", []string{"bad.hcl:2", "include"}},
		{"bad enum", "source \"cfgtest_source\" \"app\" {\n include = [\"/x\"]\n read_from = \"middle\"\n}\nsink \"cfgtest_sink\" \"out\" {\n inputs=[\"app\"]\n uri=\"http://x\"\n}\n", []string{"bad.hcl:3", "read_from", `"beginning", "end"`, `"middle"`}},
		{"bad duration", "source \"cfgtest_source\" \"app\" {\n include = [\"/x\"]\n wait = \"5 parsecs\"\n}\nsink \"cfgtest_sink\" \"out\" {\n inputs=[\"app\"]\n uri=\"http://x\"\n}\n", []string{"bad.hcl:3", "wait", "duration"}},
		{"bad size", "source \"cfgtest_source\" \"app\" {\n include = [\"/x\"]\n max_line_bytes = \"12 furlongs\"\n}\nsink \"cfgtest_sink\" \"out\" {\n inputs=[\"app\"]\n uri=\"http://x\"\n}\n", []string{"bad.hcl:3", "max_line_bytes", "size"}},
		{"missing required", "source \"cfgtest_source\" \"app\" { include = [\"/x\"] }\nsink \"cfgtest_sink\" \"out\" {\n inputs=[\"app\"]\n}\n", []string{"bad.hcl:2", `"uri"`}},
		{"validation points at attribute", "source \"cfgtest_source\" \"app\" { include = [\"/x\"] }\nsink \"cfgtest_sink\" \"out\" {\n inputs=[\"app\"]\n uri=\"ftp://x\"\n}\n", []string{"bad.hcl:4,2", "uri", "http://"}},
		{"validation of nested field", "source \"cfgtest_source\" \"app\" {\n include = [\"/x\"]\n nested {\n  count = -1\n }\n}\nsink \"cfgtest_sink\" \"out\" {\n inputs=[\"app\"]\n uri=\"http://x\"\n}\n", []string{"bad.hcl:4,3", "nested.count"}},
		{"validation of absent field points at block", "source \"cfgtest_source\" \"app\" {\n}\nsink \"cfgtest_sink\" \"out\" {\n inputs=[\"app\"]\n uri=\"http://x\"\n}\n", []string{"bad.hcl:1,1", "include"}},
		{"unknown input", "source \"cfgtest_source\" \"app\" { include = [\"/x\"] }\nsink \"cfgtest_sink\" \"out\" {\n inputs=[\"ap\"]\n uri=\"http://x\"\n}\n", []string{"bad.hcl:3", `"ap"`, "Known: app"}},
		{"input names a sink", ok + "sink \"cfgtest_sink\" \"out2\" {\n inputs=[\"out\"]\n uri=\"http://x\"\n}\n", []string{"bad.hcl:8", `"out"`}},
		{"duplicate name", ok + "source \"cfgtest_source\" \"app\" { include = [\"/y\"] }\n", []string{"bad.hcl:7", "Duplicate", `"app"`}},
		{"invalid name", "source \"cfgtest_source\" \"a b\" { include = [\"/x\"] }\n", []string{"bad.hcl:1", "a b"}},
		{"unused source", ok + "source \"cfgtest_source\" \"lonely\" { include = [\"/y\"] }\n", []string{"bad.hcl:7", "lonely", "nowhere"}},
		{"no sink", "source \"cfgtest_source\" \"app\" { include = [\"/x\"] }\n", []string{"bad.hcl:1", "no sink"}},
		{"transform cycle", "source \"cfgtest_source\" \"app\" { include = [\"/x\"] }\ntransform \"cfgtest_transform\" \"a\" { inputs = [\"app\", \"b\"] }\ntransform \"cfgtest_transform\" \"b\" { inputs = [\"a\"] }\nsink \"cfgtest_sink\" \"out\" {\n inputs=[\"b\"]\n uri=\"http://x\"\n}\n", []string{"cycle", "a -> b -> a"}},
		{"env not set", "data_dir = env(\"NOPE_NOT_SET\")\n" + ok, []string{"bad.hcl:1", "NOPE_NOT_SET"}},
		{"duplicate block", "admin {}\nadmin {}\n" + ok, []string{"bad.hcl:2", "admin"}},
		{"bad buffer", "source \"cfgtest_source\" \"app\" { include = [\"/x\"] }\nsink \"cfgtest_sink\" \"out\" {\n inputs=[\"app\"]\n uri=\"http://x\"\n buffer {\n  max_events = 0\n }\n}\n", []string{"bad.hcl:6", "buffer.max_events"}},
		{"bad global", "shutdown_timeout = \"0s\"\n" + ok, []string{"bad.hcl:1", "shutdown_timeout"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load("bad.hcl", []byte(tc.src), env(nil))
			if err == nil {
				t.Fatal("Load accepted a bad configuration")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *config.Error: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]config.ByteSize{
		"0": 0, "512": 512, "1KiB": 1024, "10MiB": 10 << 20, "1GiB": 1 << 30, "10KB": 10000,
		"1.5KiB": 1536, "2mb": 2000000, "3 MiB": 3 << 20,
	} {
		got, err := config.ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1XB", "1e400"} {
		if _, err := config.ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", bad)
		}
	}
	if s := config.ByteSize(10 << 20).String(); s != "10MiB" {
		t.Errorf("String() = %q", s)
	}
}

type sharedOptions struct {
	Address string `hcl:"address"`
	Retry   struct {
		Max int `hcl:"max"`
	} `hcl:"retry,block"`
}

type embeddingConfig struct {
	sharedOptions
	Own string `hcl:"own"`
}

func (*embeddingConfig) Validate() error { return nil }

func init() {
	component.Register(component.Registration{
		Kind: component.KindSource, Type: "cfgtest_embedding",
		NewConfig: func() component.Config {
			c := &embeddingConfig{}
			c.Address = "default"
			return c
		},
		BuildSource: func(component.Context, component.Config) (component.Source, error) { return nil, nil },
	})
}

func TestEmbeddedStructsAreFlattened(t *testing.T) {
	cfg, err := config.Load("e.hcl", []byte(`
source "cfgtest_embedding" "a" {
  own = "x"
  retry { max = 3 }
}
source "cfgtest_embedding" "b" {
  address = "set"
}
sink "cfgtest_sink" "out" {
  inputs = ["a", "b"]
  uri = "http://x"
}`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Component("a").Config.(*embeddingConfig)
	b := cfg.Component("b").Config.(*embeddingConfig)
	if a.Own != "x" || a.Retry.Max != 3 || a.Address != "default" || b.Address != "set" {
		t.Fatalf("a=%+v b=%+v", a, b)
	}
	_, err = config.Load("e.hcl", []byte(`
source "cfgtest_embedding" "a" { nope = 1 }
sink "cfgtest_sink" "out" {
  inputs = ["a"]
  uri = "http://x"
}`), env(nil))
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown attribute next to embedded ones: %v", err)
	}
}
