package vector

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/drover-dev/drover/internal/config"
)

// file is the top level of the vector command's configuration file: one
// `vector` block and nothing else.
type file struct {
	Vector *Config `hcl:"vector,block"`
}

// LoadFile reads the configuration file at path and returns its validated
// `vector` block. With path "" there is no file: the defaults are used.
// override, when not nil, changes the decoded configuration before it is
// validated (command-line flags).
func LoadFile(path string, override func(*Config)) (Config, error) {
	if path == "" {
		cfg := DefaultConfig()
		if override != nil {
			override(&cfg)
		}
		if err := cfg.Validate(); err != nil {
			return Config{}, fmt.Errorf("vector configuration: %w", err)
		}
		return cfg, nil
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading configuration: %w", err)
	}
	return Load(path, src, os.LookupEnv, override)
}

// Load parses a configuration file's contents. filename is used in error
// messages; lookupEnv resolves env("NAME") and env("NAME", "default") as
// in drover's main configuration. Errors are *config.Error naming the
// file, line and attribute.
func Load(filename string, src []byte, lookupEnv func(string) (string, bool), override func(*Config)) (Config, error) {
	f, diags := hclparse.NewParser().ParseHCL(src, filename)
	if diags.HasErrors() {
		return Config{}, &config.Error{Diags: diags}
	}
	var top file
	ranges := config.Ranges{}
	if _, diags := config.DecodeBody(f.Body, evalContext(lookupEnv), &top, false, "", ranges); diags.HasErrors() {
		return Config{}, &config.Error{Diags: diags}
	}
	if top.Vector == nil {
		return Config{}, &config.Error{Diags: hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Missing vector block",
			Detail:   "The file must hold a `vector { ... }` block (see docs/vector.md).",
			Subject:  &hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos},
		}}}
	}
	cfg := *top.Vector
	if override != nil {
		override(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, &config.Error{Diags: fieldDiags(err, ranges)}
	}
	return cfg, nil
}

// fieldDiags turns Validate's errors into diagnostics that point at the
// attribute, or at the closest enclosing block written down.
func fieldDiags(err error, ranges config.Ranges) hcl.Diagnostics {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var diags hcl.Diagnostics
	for _, e := range errs {
		field, msg := "vector", e.Error()
		var fe *config.FieldError
		if errors.As(e, &fe) {
			field, msg = "vector."+fe.Field, fe.Msg
		}
		d := &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + field,
			Detail:   strings.ToUpper(msg[:1]) + msg[1:] + ".",
		}
		for p := field; p != ""; {
			if r, ok := ranges[p]; ok {
				d.Subject = r.Ptr()
				break
			}
			i := strings.LastIndexByte(p, '.')
			if i < 0 {
				break
			}
			p = p[:i]
		}
		diags = append(diags, d)
	}
	return diags
}

// evalContext provides env() as drover's main configuration does.
func evalContext(lookupEnv func(string) (string, bool)) *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{"env": config.EnvFunction(lookupEnv, nil)}}
}
