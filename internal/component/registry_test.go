package component

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/event"
)

type testConfig struct{ Routes []string }

func (*testConfig) Validate() error { return nil }

type otherConfig struct{}

func (*otherConfig) Validate() error { return nil }

type testTransform struct{ cfg *testConfig }

func (*testTransform) Process(context.Context, *event.Batch, Emitter) error { return nil }

func TestRegisterTransformPassesTheTypedConfig(t *testing.T) {
	RegisterTransform("registry_test_transform", func() *testConfig { return &testConfig{Routes: []string{"a"}} },
		func(c Config) []string { return c.(*testConfig).Routes },
		Infallible(func(_ Context, c *testConfig) *testTransform { return &testTransform{cfg: c} }))
	r, ok := Lookup(KindTransform, "registry_test_transform")
	if !ok {
		t.Fatal("not registered")
	}
	cfg := r.NewConfig()
	if got := r.Outputs(cfg); len(got) != 1 || got[0] != "a" {
		t.Errorf("outputs = %v, want [a]", got)
	}
	tr, err := r.BuildTransform(Context{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if tr.(*testTransform).cfg != cfg {
		t.Error("the transform did not get the configuration it was built from")
	}
	_, err = r.BuildTransform(Context{}, &otherConfig{})
	if err == nil || !strings.Contains(err.Error(), "registry_test_transform: unexpected configuration type *component.otherConfig") {
		t.Errorf("building from another configuration type: err = %v", err)
	}
}

func TestRegisterSourceAndSinkSetTheirKind(t *testing.T) {
	RegisterSource("registry_test_source", func() *testConfig { return &testConfig{} },
		func(Context, *testConfig) (Source, error) { return nil, nil })
	RegisterSink("registry_test_sink", func() *testConfig { return &testConfig{} }, nil,
		func(Context, *testConfig) (Sink, error) { return nil, nil })
	if r, ok := Lookup(KindSource, "registry_test_source"); !ok || r.BuildSource == nil {
		t.Error("source not registered with a source builder")
	}
	if r, ok := Lookup(KindSink, "registry_test_sink"); !ok || r.BuildSink == nil || r.Outputs != nil {
		t.Error("sink not registered with a sink builder and no outputs")
	}
}

func TestContextLogDiscardsWithoutALogger(t *testing.T) {
	if (Context{}).Log() == nil {
		t.Fatal("Log of a context without a logger is nil")
	}
	l := slog.New(slog.DiscardHandler)
	if (Context{Logger: l}).Log() != l {
		t.Fatal("Log does not return the context's logger")
	}
}
