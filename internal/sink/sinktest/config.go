package sinktest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
)

// sourceType is a source registered by LoadConfig so that a sink block has
// an input.
const sourceType = "sinktest_source"

var registerSource sync.Once

type sourceConfig struct{}

// Validate accepts the empty configuration.
func (*sourceConfig) Validate() error { return nil }

// LoadConfig loads a configuration holding one sink of type typ, whose
// block holds body (HCL attributes and blocks, without `inputs`), the way
// drover loads its configuration file: HCL decoding into the type's
// NewConfig defaults, then Validate. It returns the sink's decoded config,
// or the loader's error, which names file ("sink.hcl"), line and attribute.
// env("NAME") resolves from vars.
func LoadConfig(t testing.TB, typ, body string, vars map[string]string) (component.Config, error) {
	t.Helper()
	registerSource.Do(func() {
		component.Register(component.Registration{
			Kind:      component.KindSource,
			Type:      sourceType,
			NewConfig: func() component.Config { return &sourceConfig{} },
			BuildSource: func(component.Context, component.Config) (component.Source, error) {
				return nil, errors.New("sinktest source is for configuration tests only")
			},
		})
	})
	src := fmt.Sprintf("source %q \"in\" {}\nsink %q \"out\" {\n  inputs = [\"in\"]\n%s\n}\n", sourceType, typ, body)
	cfg, err := config.Load("sink.hcl", []byte(src), func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	})
	if err != nil {
		return nil, err
	}
	return cfg.Component("out").Config, nil
}
