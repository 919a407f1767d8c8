package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/secret"
)

// Error is a configuration error: one or more diagnostics, each naming the
// file, line and column of what is wrong. Its message never shows a secret
// the configuration holds.
type Error struct {
	Diags    hcl.Diagnostics
	redactor *secret.Redactor
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, d := range e.Diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		if i > 0 {
			b.WriteString("\n")
		}
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s:%d,%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		b.WriteString(d.Summary)
		if d.Detail != "" {
			b.WriteString("; ")
			b.WriteString(d.Detail)
		}
	}
	return e.redactor.Redact(b.String())
}

// LoadFile reads and loads the configuration file at path.
func LoadFile(path string) (*Config, error) {
	return LoadPaths([]string{path}, os.LookupEnv)
}

// Source is one piece of a configuration: a file name (for error messages)
// and its content.
type Source struct {
	Name string
	Data []byte
}

// ReadPaths reads the configuration files that paths name: a file as it
// is, a directory as every *.hcl file directly inside it, in lexical order.
func ReadPaths(paths []string) ([]Source, error) {
	if len(paths) == 0 {
		return nil, errors.New("no configuration file given")
	}
	var out []Source
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reading configuration: %w", err)
		}
		names := []string{p}
		if fi.IsDir() {
			names, err = filepath.Glob(filepath.Join(p, "*.hcl"))
			if err != nil {
				return nil, fmt.Errorf("reading configuration directory %s: %w", p, err)
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("reading configuration directory %s: it holds no *.hcl file", p)
			}
			sort.Strings(names)
		}
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				return nil, fmt.Errorf("reading configuration: %w", err)
			}
			out = append(out, Source{Name: n, Data: b})
		}
	}
	return out, nil
}

// LoadPaths reads the files and directories paths name (see ReadPaths)
// and loads them as one configuration (see LoadSources).
func LoadPaths(paths []string, lookupEnv func(string) (string, bool)) (*Config, error) {
	srcs, err := ReadPaths(paths)
	if err != nil {
		return nil, err
	}
	return LoadSources(srcs, lookupEnv)
}

// Load parses and validates a configuration. filename is used in error
// messages; lookupEnv resolves env("NAME") calls.
func Load(filename string, src []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	return LoadSources([]Source{{Name: filename, Data: src}}, lookupEnv)
}

// LoadSources parses every source and merges them into one configuration:
// the global settings and components of all of them, as if they were one
// file. A global attribute set in two files, a block such as admin given
// twice, or a component name used twice is an error that names both
// places. Every error names its file and line.
func LoadSources(srcs []Source, lookupEnv func(string) (string, bool)) (*Config, error) {
	if len(srcs) == 0 {
		return nil, errors.New("no configuration file given")
	}
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	parser := hclparse.NewParser()
	var (
		files []*hcl.File
		diags hcl.Diagnostics
		names []string
	)
	for _, src := range srcs {
		f, ds := parser.ParseHCL(src.Data, src.Name)
		diags = append(diags, locate(ds, src.Name)...)
		if f != nil {
			files = append(files, f)
		}
		names = append(names, src.Name)
	}
	if diags.HasErrors() {
		return nil, &Error{Diags: diags}
	}
	body := files[0].Body
	if len(files) > 1 {
		body = hcl.MergeFiles(files)
	}
	secrets := &secret.Set{}
	cfg, diags := decode(body, evalContext(lookupEnv, secrets), lookupEnv, secrets)
	if diags.HasErrors() {
		return nil, &Error{Diags: locate(diags, srcs[0].Name), redactor: secret.NewRedactor(secrets.Values()...)}
	}
	cfg.Secrets = secrets.Values()
	cfg.Files = names
	cfg.Path = strings.Join(names, ", ")
	return cfg, nil
}

// locate points the diagnostics that concern the whole file (an empty
// topology) at its first line, so that every error names file:line.
func locate(diags hcl.Diagnostics, filename string) hcl.Diagnostics {
	for _, d := range diags {
		if d.Subject == nil {
			d.Subject = &hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}
		}
	}
	return diags
}

// evalContext provides the configuration's functions: env("NAME") and
// file("path"). What file() reads, and what env() reads from a variable
// named like a secret (NOMAD_TOKEN, AWS_SECRET_ACCESS_KEY, ..._PASSWORD),
// is recorded in secrets.
func evalContext(lookupEnv func(string) (string, bool), secrets *secret.Set) *hcl.EvalContext {
	file := function.New(&function.Spec{
		Description: "Returns the content of a file, without one trailing newline: a secret kept in a file.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			b, err := os.ReadFile(args[0].AsString())
			if err != nil {
				return cty.NilVal, err
			}
			v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			secrets.Add(v)
			return cty.StringVal(v), nil
		},
	})
	return &hcl.EvalContext{Functions: map[string]function.Function{"env": EnvFunction(lookupEnv, secrets), "file": file}}
}

// EnvFunction is the env("NAME") function of drover's configuration
// files, env("NAME", "default") with a default: it returns the variable's
// value as lookupEnv finds it, and fails when the variable is not set and
// there is no default. When secrets is not nil, the values of variables
// named like secrets (secret.IsSecretName) are recorded in it.
func EnvFunction(lookupEnv func(string) (string, bool), secrets *secret.Set) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable; with a second argument, that value when the variable is not set.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			if v, ok := lookupEnv(name); ok {
				if secrets != nil && secret.IsSecretName(name) {
					secrets.Add(v)
				}
				return cty.StringVal(v), nil
			}
			switch len(args) {
			case 1:
				return cty.NilVal, fmt.Errorf("environment variable %s is not set (give a default as env(%q, \"...\"))", name, name)
			case 2:
				return args[1], nil
			}
			return cty.NilVal, errors.New("env takes a name and at most one default")
		},
	})
}

// TestBlock is the type of the top-level blocks that hold unit tests of
// the pipeline (drover test).
const TestBlock = "test"

type componentBlock struct {
	kind component.Kind
	typ  string
	id   string
	body hcl.Body
	def  hcl.Range
	// labelRanges holds the ranges of the type and name labels.
	labelRanges []hcl.Range
}

var topSchema = func() *hcl.BodySchema {
	s := SchemaOf(reflect.TypeFor[Config]())
	for _, k := range []component.Kind{component.KindSource, component.KindTransform, component.KindSink} {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: string(k), LabelNames: []string{"type", "name"}})
	}
	// Unit tests of the pipeline's transforms, run by drover test
	// (internal/pipelinetest); drover run leaves them alone.
	s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: TestBlock, LabelNames: []string{"name"}})
	return s
}()

func decode(body hcl.Body, ctx *hcl.EvalContext, lookupEnv func(string) (string, bool), secrets *secret.Set) (*Config, hcl.Diagnostics) {
	cfg := defaults(lookupEnv)
	ranges := Ranges{}
	// Strict check of the top level (unknown attributes and blocks, labels).
	content, diags := body.Content(topSchema)
	if diags.HasErrors() {
		return nil, diags
	}
	// Decode the global settings; the component blocks are left over.
	_, ds := decodeBody(body, ctx, cfg, true, "", ranges, secrets)
	diags = append(diags, ds...)
	diags = append(diags, validateGlobals(cfg, ranges, lookupEnv)...)
	diags = append(diags, loadAdminToken(&cfg.Admin, ranges, secrets)...)
	diags = append(diags, validateHealth(cfg.Health, ranges)...)

	var blocks []componentBlock
	for _, b := range content.Blocks {
		switch b.Type {
		case string(component.KindSource), string(component.KindTransform), string(component.KindSink):
			blocks = append(blocks, componentBlock{
				kind: component.Kind(b.Type), typ: b.Labels[0], id: b.Labels[1],
				body: b.Body, def: b.DefRange, labelRanges: b.LabelRanges,
			})
		}
	}
	comps, ds := decodeComponents(blocks, ctx, secrets)
	diags = append(diags, ds...)
	if diags.HasErrors() {
		return nil, diags
	}
	cfg.Components = comps
	return cfg, diags
}

func validateGlobals(cfg *Config, ranges Ranges, lookupEnv func(string) (string, bool)) hcl.Diagnostics {
	var diags hcl.Diagnostics
	// fail reports a problem with a global setting, naming the environment
	// variable when the value came from there rather than from the file.
	fail := func(field, env, msg string) {
		if _, inFile := ranges[field]; !inFile && env != "" {
			if v, ok := lookupEnv(env); ok && v != "" {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid " + env,
					Detail:   fmt.Sprintf("%s=%q (the default of %s): %s.", env, v, field, msg),
				})
				return
			}
		}
		diags = append(diags, fieldDiag(ranges, "", field, msg, hcl.Range{}))
	}
	if cfg.DataDir == "" {
		fail("data_dir", "", "must not be empty")
	}
	if cfg.ShutdownTimeout <= 0 {
		fail("shutdown_timeout", "", "must be greater than zero")
	}
	if cfg.Metrics.FileSeriesLimit < 0 {
		fail("metrics.file_series_limit", "", "must not be negative (0 sums every file in one series)")
	}
	if cfg.Admin.Enabled {
		if cfg.Admin.Address == "" {
			fail("admin.address", "", "must not be empty while the admin endpoint is enabled")
		} else if err := CheckListenAddress(cfg.Admin.Address); err != nil {
			fail("admin.address", EnvAdminAddress, err.Error())
		}
	}
	return diags
}

// loadAdminToken reads admin.token_file and checks admin.unauthenticated.
func loadAdminToken(a *Admin, ranges Ranges, secrets *secret.Set) hcl.Diagnostics {
	var diags hcl.Diagnostics
	fail := func(field, msg string) { diags = append(diags, fieldDiag(ranges, "", field, msg, hcl.Range{})) }
	for _, p := range a.Unauthenticated {
		if !slices.Contains(AdminPaths, p) {
			fail("admin.unauthenticated", fmt.Sprintf("%q is not a path the endpoint can open; use %s", p, quoteList(AdminPaths)))
		}
	}
	if a.TokenFile == "" {
		if len(a.Unauthenticated) > 0 {
			fail("admin.unauthenticated", "only applies with admin.token_file (without a token, every path is open)")
		}
		return diags
	}
	b, err := os.ReadFile(a.TokenFile)
	if err != nil {
		fail("admin.token_file", "cannot be read: "+err.Error())
		return diags
	}
	a.Token = strings.TrimSpace(string(b))
	switch {
	case a.Token == "":
		fail("admin.token_file", a.TokenFile+" is empty")
	case len(a.Token) < 16:
		fail("admin.token_file", "the token in "+a.TokenFile+" is shorter than 16 characters; make a long random one (openssl rand -hex 32)")
	case strings.ContainsAny(a.Token, " \t\r\n"):
		fail("admin.token_file", "the token in "+a.TokenFile+" holds white space; it must be one word")
	}
	secrets.Add(a.Token)
	return diags
}

// fieldDiag builds a diagnostic for a field path, pointing at the
// attribute when it was set and at fallback (the block) otherwise.
func fieldDiag(ranges Ranges, prefix, field, msg string, fallback hcl.Range) *hcl.Diagnostic {
	full := join(prefix, field)
	d := &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s", field),
		Detail:   capitalize(msg) + ".",
	}
	if r, ok := ranges[full]; ok {
		d.Subject = r.Ptr()
	} else {
		// Point at the closest enclosing block that was written down.
		for p := full; p != ""; {
			i := strings.LastIndexByte(p, '.')
			if i < 0 {
				break
			}
			p = p[:i]
			if r, ok := ranges[p]; ok {
				d.Subject = r.Ptr()
				break
			}
		}
		if d.Subject == nil && fallback.Filename != "" {
			d.Subject = fallback.Ptr()
		}
	}
	return d
}

type sinkCommon struct {
	Inputs []string `hcl:"inputs,required"`
	Buffer Buffer   `hcl:"buffer,block"`
}

type transformCommon struct {
	Inputs []string `hcl:"inputs,required"`
}

func decodeComponents(blocks []componentBlock, ctx *hcl.EvalContext, secrets *secret.Set) ([]*Component, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	byID := map[string]componentBlock{}
	var comps []*Component
	inputRanges := map[*Component]hcl.Range{}
	for _, b := range blocks {
		if !validID(b.id) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid component name",
				Detail:   fmt.Sprintf("%q is not a valid name: use letters, digits, '_' and '-', starting with a letter or digit.", b.id),
				Subject:  b.labelRanges[1].Ptr(),
			})
			continue
		}
		if prev, dup := byID[b.id]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate component name",
				Detail:   fmt.Sprintf("The name %q is already used by the %s declared at %s; names are unique across sources, transforms and sinks.", b.id, prev.kind, prev.def),
				Subject:  b.labelRanges[1].Ptr(),
			})
			continue
		}
		byID[b.id] = b
		reg, ok := component.Lookup(b.kind, b.typ)
		if !ok {
			detail := fmt.Sprintf("There is no %s type %q.", b.kind, b.typ)
			if types := component.Types(b.kind); len(types) > 0 {
				detail += " Known types: " + strings.Join(types, ", ") + "."
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Unknown %s type", b.kind),
				Detail:   detail,
				Subject:  b.labelRanges[0].Ptr(),
			})
			continue
		}
		comp := &Component{Kind: b.kind, Type: b.typ, ID: b.id, Registration: reg, DefRange: b.def}
		ranges := Ranges{}
		body := b.body
		switch b.kind {
		case component.KindSink:
			common := sinkCommon{Buffer: defaultBuffer()}
			remain, ds := decodeBody(body, ctx, &common, true, "", ranges, secrets)
			diags = append(diags, ds...)
			if ds.HasErrors() {
				continue
			}
			body = remain
			comp.Inputs, comp.Buffer = common.Inputs, common.Buffer
			diags = append(diags, validateBuffer(comp.Buffer, ranges, b.def)...)
		case component.KindTransform:
			var common transformCommon
			remain, ds := decodeBody(body, ctx, &common, true, "", ranges, secrets)
			diags = append(diags, ds...)
			if ds.HasErrors() {
				continue
			}
			body = remain
			comp.Inputs = common.Inputs
		}
		cfg := reg.NewConfig()
		_, ds := decodeBody(body, ctx, cfg, false, "", ranges, secrets)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		if err := cfg.Validate(); err != nil {
			diags = append(diags, validationDiags(err, ranges, b)...)
			continue
		}
		comp.Config = cfg
		if reg.Outputs != nil {
			outs, ds := checkOutputs(reg.Outputs(cfg), b)
			diags = append(diags, ds...)
			if ds.HasErrors() {
				continue
			}
			comp.Outputs = outs
		}
		if r, ok := ranges["inputs"]; ok {
			inputRanges[comp] = r
		} else {
			inputRanges[comp] = b.def
		}
		comps = append(comps, comp)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	diags = append(diags, checkTopology(comps, inputRanges)...)
	if diags.HasErrors() {
		return nil, diags
	}
	ordered := make([]*Component, 0, len(comps))
	for _, k := range []component.Kind{component.KindSource, component.KindTransform, component.KindSink} {
		for _, c := range comps {
			if c.Kind == k {
				c.fingerprint = fingerprint(c)
				ordered = append(ordered, c)
			}
		}
	}
	return ordered, diags
}

// validationDiags turns a Validate error into diagnostics. Field errors point
// at their attribute; errors.Join'ed field errors each get one.
func validationDiags(err error, ranges Ranges, b componentBlock) hcl.Diagnostics {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var diags hcl.Diagnostics
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) {
			d := fieldDiag(ranges, "", fe.Field, fe.Msg, b.def)
			d.Summary = fmt.Sprintf("Invalid %s in %s %q", fe.Field, b.kind, b.id)
			diags = append(diags, d)
			continue
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid %s %q", b.kind, b.id),
			Detail:   capitalize(e.Error()) + ".",
			Subject:  b.def.Ptr(),
		})
	}
	return diags
}

func validID(id string) bool {
	if id == "" {
		return false
	}
	for i, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case (r == '_' || r == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// checkOutputs checks the named outputs a component declares: lowercase
// letters, digits and underscores, each once.
func checkOutputs(outs []string, b componentBlock) ([]string, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	for _, o := range outs {
		switch {
		case !validOutputName(o):
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Invalid output name in %s %q", b.kind, b.id),
				Detail:   fmt.Sprintf("The output name %q must be made of lowercase letters, digits and underscores.", o),
				Subject:  b.def.Ptr(),
			})
		case seen[o]:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate output name in %s %q", b.kind, b.id),
				Detail:   fmt.Sprintf("The output %q is declared twice.", o),
				Subject:  b.def.Ptr(),
			})
		}
		seen[o] = true
	}
	return slices.Clone(outs), diags
}

func validOutputName(o string) bool {
	if o == "" {
		return false
	}
	for _, r := range o {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// checkTopology resolves inputs and rejects cycles and unused producers.
func checkTopology(comps []*Component, inputRanges map[*Component]hcl.Range) hcl.Diagnostics {
	var diags hcl.Diagnostics
	producers := producers(comps)
	for _, c := range comps {
		if c.Kind == component.KindSource {
			continue
		}
		diags = append(diags, resolveInputs(c, producers, inputRanges[c])...)
	}
	if diags.HasErrors() {
		return diags
	}
	// Cycles: among transforms, and through named outputs (a sink's dead
	// letters read by a sink whose dead letters it reads).
	byID := map[string]*Component{}
	for _, c := range comps {
		byID[c.ID] = c
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(c *Component, trail []string) bool
	visit = func(c *Component, trail []string) bool {
		switch state[c.ID] {
		case 1:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cycle in the topology",
				Detail:   fmt.Sprintf("The components form a cycle: %s.", strings.Join(append(trail, c.ID), " -> ")),
				Subject:  c.DefRange.Ptr(),
			})
			return false
		case 2:
			return true
		}
		state[c.ID] = 1
		for _, in := range c.Inputs {
			if !visit(byID[OutputOwner(in)], append(trail, c.ID)) {
				return false
			}
		}
		state[c.ID] = 2
		return true
	}
	for _, c := range comps {
		if c.Kind != component.KindSource && !visit(c, nil) {
			break
		}
	}
	// Every producer must be read by someone: a source nobody reads would
	// acknowledge (and so checkpoint) data that went nowhere.
	consumed := map[string]bool{}
	for _, c := range comps {
		for _, in := range c.Inputs {
			consumed[in] = true
		}
	}
	for _, c := range comps {
		// A component is used when its default output or one of its named
		// outputs (a route's) is read.
		used := consumed[c.ID]
		for _, o := range c.Outputs {
			used = used || consumed[c.ID+"."+o]
		}
		if c.Kind != component.KindSink && !used {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unused " + string(c.Kind),
				Detail:   fmt.Sprintf("No transform or sink lists %s %q in its inputs; its data would go nowhere.", c.Kind, c.ID),
				Subject:  c.DefRange.Ptr(),
			})
		}
	}
	hasSink := false
	for _, c := range comps {
		hasSink = hasSink || c.Kind == component.KindSink
	}
	if !hasSink && len(comps) > 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No sink",
			Detail:   "The configuration has no sink block; events would go nowhere.",
			Subject:  comps[0].DefRange.Ptr(),
		})
	}
	if len(comps) == 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Empty topology",
			Detail:   "The configuration declares no source and no sink.",
		})
	}
	return diags
}
