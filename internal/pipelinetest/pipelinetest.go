// Package pipelinetest runs the unit tests written in a configuration
// file (drover test), so that users can check their transforms in CI, as
// `vector test` does for Vector:
//
//	test "debug lines of dev are dropped" {
//	  input {
//	    insert_at  = "parse_app"            # a transform or source id
//	    messages   = ["{\"level\":\"debug\"}", "{\"level\":\"info\"}"]
//	    meta       = { "nomad.namespace" = "dev" }   # the stream's metadata
//	    nomad_meta = { "drover.parser" = "json" }    # its nomad.meta
//	  }
//	  output {
//	    extract_from = "drop_debug"          # a transform or "<route>.<output>"
//	    messages     = ["{\"level\":\"info\"}"]   # exactly these, in order
//	    condition    = "level == \"info\""   # every event matches
//	    events       = 1                     # exactly this many
//	  }
//	  no_output_from = ["errors.critical"]
//	}
//
// A test builds the configuration's transforms (sources and sinks are not
// run), feeds each input's events to insert_at as one batch, flushes the
// transforms that hold events (multiline) as a stop would, and checks what
// reached each output. It also checks that every input batch was
// acknowledged exactly as the pipeline promises.
package pipelinetest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/expression"
	"github.com/drover-dev/drover/internal/metrics"
)

// Test is one test block.
type Test struct {
	Name         string
	Inputs       []Input  `hcl:"input,block"`
	Outputs      []Output `hcl:"output,block"`
	NoOutputFrom []string `hcl:"no_output_from"`
	Range        hcl.Range
}

// Input is a batch of events fed to a component.
type Input struct {
	InsertAt  string            `hcl:"insert_at,required"`
	Message   string            `hcl:"message"`
	Messages  []string          `hcl:"messages"`
	Fields    map[string]string `hcl:"fields"`
	Meta      map[string]string `hcl:"meta"`
	NomadMeta map[string]string `hcl:"nomad_meta"`
	// Timestamp is RFC 3339; default 2026-01-01T00:00:00Z.
	Timestamp string `hcl:"timestamp"`
}

// Output is what one output must have received.
type Output struct {
	ExtractFrom string   `hcl:"extract_from,required"`
	Messages    []string `hcl:"messages"`
	Condition   string   `hcl:"condition"`
	Events      int      `hcl:"events"`
}

// Result is the outcome of one test.
type Result struct {
	Name     string
	Failures []string
}

// Load reads the configuration at path and its tests. Tests run without a
// node's environment: env() takes its default, and a variable without one
// that the environment lacks gets a placeholder.
func Load(path string, src []byte) (*config.Config, []Test, error) {
	cfg, err := config.Load(path, src, os.LookupEnv)
	if err != nil {
		cfg, err = config.Load(path, src, func(name string) (string, bool) {
			if v, ok := os.LookupEnv(name); ok {
				return v, true
			}
			return "drover-test", true
		})
	}
	if err != nil {
		return nil, nil, err
	}
	file, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, nil, &config.Error{Diags: diags}
	}
	content, _, diags := file.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: config.TestBlock, LabelNames: []string{"name"}}}})
	if diags.HasErrors() {
		return nil, nil, &config.Error{Diags: diags}
	}
	var tests []Test
	for _, b := range content.Blocks {
		t := Test{Name: b.Labels[0], Range: b.DefRange}
		_, ds := config.DecodeBody(b.Body, nil, &t, false, "", config.Ranges{})
		for i := range t.Outputs {
			if t.Outputs[i].Events == 0 {
				if _, set := attrs(b.Body, i)["events"]; !set {
					t.Outputs[i].Events = -1
				}
			}
		}
		diags = append(diags, ds...)
		tests = append(tests, t)
	}
	if diags.HasErrors() {
		return nil, nil, &config.Error{Diags: diags}
	}
	return cfg, tests, nil
}

// attrs returns the attributes written in the i-th output block of a test
// body, to tell "events = 0" from no events attribute.
func attrs(body hcl.Body, i int) hcl.Attributes {
	c, _, _ := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "output"}}})
	if c == nil || i >= len(c.Blocks) {
		return nil
	}
	a, _ := c.Blocks[i].Body.JustAttributes()
	return a
}

// Run runs every test of cfg.
func Run(cfg *config.Config, tests []Test) []Result {
	out := make([]Result, 0, len(tests))
	for _, t := range tests {
		out = append(out, runOne(cfg, t))
	}
	return out
}

// pipeline is the transforms of a configuration, wired for one test.
type pipeline struct {
	cfg        *config.Config
	consumers  map[string][]string
	transforms map[string]component.Transform
	captured   map[string][]event.Event // of the outputs a test checks
	held       []*event.Batch
	failures   []string
}

// emitter is a producer's output during a test: it records the batches
// that reach it and hands them to its consumer transforms.
type emitter struct {
	p    *pipeline
	name string
}

func (e emitter) Emit(ctx context.Context, b *event.Batch) error {
	if len(b.Events) == 0 {
		return nil
	}
	b.Ack.Retain(1)
	e.p.held = append(e.p.held, b)
	if evs, watched := e.p.captured[e.name]; watched {
		e.p.captured[e.name] = append(evs, b.Events...)
	}
	for _, cid := range e.p.consumers[e.name] {
		if tr, ok := e.p.transforms[cid]; ok {
			if err := tr.Process(ctx, b, emitter{e.p, cid}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Consumed reports whether the output is read: route transforms count
// what goes to outputs nobody reads.
func (e emitter) Consumed() bool { return len(e.p.consumers[e.name]) > 0 || e.p.extracted(e.name) }

func (p *pipeline) extracted(name string) bool { _, ok := p.captured[name]; return ok }

func runOne(cfg *config.Config, t Test) Result {
	res := Result{Name: t.Name}
	fail := func(format string, args ...any) { res.Failures = append(res.Failures, fmt.Sprintf(format, args...)) }
	p := &pipeline{cfg: cfg, consumers: cfg.Consumers(), transforms: map[string]component.Transform{}, captured: map[string][]event.Event{}}
	// Outputs that are checked are recorded even when nothing reads them.
	for _, o := range t.Outputs {
		p.captured[o.ExtractFrom] = []event.Event{}
	}
	for _, n := range t.NoOutputFrom {
		p.captured[n] = []event.Event{}
	}
	reg := metrics.New()
	for _, c := range cfg.Transforms() {
		ctx := component.Context{Kind: c.Kind, Type: c.Type, ID: c.ID, DataDir: os.TempDir(),
			Logger: slog.New(slog.DiscardHandler), Metrics: reg.Component(string(c.Kind), c.Type, c.ID)}
		if len(c.Outputs) > 0 {
			ctx.Outputs = map[string]component.Emitter{}
			for _, o := range c.Outputs {
				ctx.Outputs[o] = emitter{p, c.ID + "." + o}
			}
		}
		tr, err := c.Registration.BuildTransform(ctx, c.Config)
		if err != nil {
			fail("building transform %q: %v", c.ID, err)
			return res
		}
		p.transforms[c.ID] = tr
	}
	producers := cfg.Producers()
	for _, name := range append(outputNames(t), insertNames(t)...) {
		if !slices.Contains(producers, name) {
			fail("%q is not an output of the configuration (known: %s)", name, strings.Join(producers, ", "))
		}
	}
	if len(res.Failures) > 0 {
		return res
	}
	ctx := context.Background()
	var acks []*ackState
	for i, in := range t.Inputs {
		evs, err := in.events()
		if err != nil {
			fail("input %d: %v", i+1, err)
			return res
		}
		st := &ackState{}
		b := &event.Batch{Events: evs, Ack: event.NewAck(st.done)}
		acks = append(acks, st)
		var perr error
		if tr, ok := p.transforms[in.InsertAt]; ok {
			perr = tr.Process(ctx, b, emitter{p, in.InsertAt})
		} else {
			perr = emitter{p, in.InsertAt}.Emit(ctx, b)
		}
		b.Ack.Release(event.Delivered)
		if perr != nil {
			fail("input %d: %v", i+1, perr)
		}
	}
	// Transforms that hold events give them up, upstream first, as when
	// drover stops.
	for _, id := range p.order() {
		if f, ok := p.transforms[id].(component.Flusher); ok {
			if err := f.Flush(ctx, emitter{p, id}); err != nil {
				fail("flushing %q: %v", id, err)
			}
		}
	}
	for _, o := range t.Outputs {
		p.check(o, fail)
	}
	for _, n := range t.NoOutputFrom {
		if evs := p.captured[n]; len(evs) > 0 {
			fail("%s: expected no events, got %d: %s", n, len(evs), show(evs))
		}
	}
	// What reached the outputs is delivered; every input batch must then
	// be acknowledged, as delivered.
	for _, b := range p.held {
		b.Ack.Release(event.Delivered)
	}
	for i, st := range acks {
		switch {
		case !st.finished:
			fail("input %d: its batch was never acknowledged (a transform kept a hold on it)", i+1)
		case !st.ok:
			fail("input %d: its batch was acknowledged as failed", i+1)
		}
	}
	return res
}

type ackState struct{ finished, ok bool }

func (a *ackState) done(ok bool) { a.finished, a.ok = true, ok }

func outputNames(t Test) []string {
	var out []string
	for _, o := range t.Outputs {
		out = append(out, o.ExtractFrom)
	}
	return append(out, t.NoOutputFrom...)
}

func insertNames(t Test) []string {
	var out []string
	for _, in := range t.Inputs {
		out = append(out, in.InsertAt)
	}
	return out
}

// order lists the transforms so that each comes after those feeding it.
func (p *pipeline) order() []string {
	var out []string
	seen := map[string]bool{}
	var visit func(id string)
	visit = func(id string) {
		if seen[id] {
			return
		}
		seen[id] = true
		if c := p.cfg.Component(id); c != nil {
			for _, in := range c.Inputs {
				visit(config.OutputOwner(in))
			}
		}
		if _, ok := p.transforms[id]; ok {
			out = append(out, id)
		}
	}
	for _, c := range p.cfg.Transforms() {
		visit(c.ID)
	}
	return out
}

func (p *pipeline) check(o Output, fail func(string, ...any)) {
	evs := p.captured[o.ExtractFrom]
	if o.Events >= 0 && len(evs) != o.Events {
		fail("%s: expected %d events, got %d: %s", o.ExtractFrom, o.Events, len(evs), show(evs))
	}
	if o.Messages != nil {
		got := make([]string, len(evs))
		for i := range evs {
			got[i] = string(evs[i].Message)
		}
		if !slices.Equal(got, o.Messages) {
			fail("%s: expected messages %q, got %q", o.ExtractFrom, o.Messages, got)
		}
	}
	if o.Condition != "" {
		cond, err := expression.CompileCondition(o.Condition)
		if err != nil {
			fail("%s: condition: %v", o.ExtractFrom, err)
			return
		}
		if len(evs) == 0 {
			fail("%s: no events to check the condition on", o.ExtractFrom)
		}
		for i := range evs {
			ok, err := cond.Match(&evs[i])
			if !ok {
				detail := ""
				if err != nil {
					detail = " (" + err.Error() + ")"
				}
				fail("%s: event %d does not match %s%s: %s", o.ExtractFrom, i+1, o.Condition, detail, show(evs[i:i+1]))
			}
		}
	}
}

// show renders events as a sink would encode them, as JSON objects.
func show(evs []event.Event) string {
	var b strings.Builder
	for i := range evs {
		if i > 0 {
			b.WriteString(" ")
		}
		b.Write(codec.AppendJSON(nil, &evs[i]))
	}
	return b.String()
}

// events builds the input's events, all of one stream.
func (in Input) events() ([]event.Event, error) {
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if in.Timestamp != "" {
		t, err := time.Parse(time.RFC3339Nano, in.Timestamp)
		if err != nil {
			return nil, fmt.Errorf("timestamp: %w", err)
		}
		ts = t
	}
	msgs := in.Messages
	if in.Message != "" {
		msgs = append([]string{in.Message}, msgs...)
	}
	if len(msgs) == 0 {
		return nil, errors.New("no message or messages")
	}
	meta := map[string]string{"source_type": "test"}
	for k, v := range in.Meta {
		meta[k] = v
	}
	mf := nested(meta)
	if len(in.NomadMeta) > 0 {
		var fs []event.Field
		for _, k := range slices.Sorted(maps.Keys(in.NomadMeta)) {
			fs = append(fs, event.Field{Key: k, Value: event.StringValue(in.NomadMeta[k])})
		}
		mf = setNested(mf, []string{"nomad", "meta"}, event.ObjectValue(event.NewFields(fs...)))
	}
	m := event.NewMeta("test", mf)
	var own *event.Fields
	if len(in.Fields) > 0 {
		own = nested(in.Fields)
	}
	evs := make([]event.Event, len(msgs))
	for i, s := range msgs {
		evs[i] = event.Event{Timestamp: ts, Message: []byte(s), Meta: m, Fields: own}
	}
	return evs, nil
}

// nested builds fields from dotted paths.
func nested(kv map[string]string) *event.Fields {
	var f *event.Fields
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		f = setNested(f, strings.Split(k, "."), event.StringValue(kv[k]))
	}
	return f
}

func setNested(f *event.Fields, segs []string, v event.Value) *event.Fields {
	if len(segs) == 1 {
		return f.With(event.Field{Key: segs[0], Value: v})
	}
	child, _ := f.Lookup(segs[0])
	return f.With(event.Field{Key: segs[0], Value: event.ObjectValue(setNested(child.Object(), segs[1:], v))})
}

// Main is `drover test [FILE...]`: it runs the tests of each configuration
// file and prints one line per test and a summary. It returns the exit
// code: 0 when every test passed, 1 when one failed or a file has none or
// does not load, 2 on a usage error.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: drover test FILE...   run the test blocks of configuration files")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	passed, failed := 0, 0
	for _, path := range fs.Args() {
		src, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "drover test: %v\n", err)
			failed++
			continue
		}
		cfg, tests, err := Load(path, src)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			failed++
			continue
		}
		if len(tests) == 0 {
			fmt.Fprintf(stderr, "%s: no test blocks\n", path)
			failed++
			continue
		}
		for i, r := range Run(cfg, tests) {
			if len(r.Failures) == 0 {
				passed++
				fmt.Fprintf(stdout, "ok   %s: %s\n", path, r.Name)
				continue
			}
			failed++
			fmt.Fprintf(stdout, "FAIL %s:%d: %s\n", path, tests[i].Range.Start.Line, r.Name)
			for _, f := range r.Failures {
				fmt.Fprintf(stdout, "     %s\n", f)
			}
		}
	}
	fmt.Fprintf(stdout, "tests: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
