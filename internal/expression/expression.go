// Package expression is drover's one expression language, for the
// conditions of filter, route and multiline and the computed values of
// remap. The language is expr (github.com/expr-lang/expr): its syntax,
// operators and built-in functions, with event fields as variables:
//
//	nomad.namespace == "prod" && level in ["debug", "trace"]
//	message contains "password" or message matches "^\\s+at "
//	nomad.meta["drover.parser"] == "json"
//	lower(level) != "debug"
//
// A name resolves as event.Event.Get does: "message", "timestamp", then the
// event's own fields (parsed ones), then its stream's metadata ("host",
// "stream", "nomad.job_name"). A key that holds dots or dashes is written in
// brackets. A missing field is nil.
//
// An expression is parsed and type-checked once, when the configuration is
// loaded, so that drover validate reports a mistake with its file, line and
// column. Per event, conditions made only of comparisons of fields with
// literals (==, !=, <, <=, >, >=, in, contains, startsWith, endsWith,
// matches) joined by and, or and not are evaluated by a native evaluator
// built from the checked syntax tree, without allocating; every other
// expression runs on expr's virtual machine. docs/architecture.md gives the
// measurements behind this choice.
package expression

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/drover-dev/drover/internal/event"
)

// MaxLength bounds the text of one expression.
const MaxLength = 4096

// Program is a compiled expression. It is immutable and safe for
// concurrent use.
type Program struct {
	src    string
	prog   *vm.Program
	native func(e *event.Event) bool // conditions only; nil when the VM runs
	paths  [][]string
	vms    sync.Pool
}

// env is what the virtual machine sees as $env: the event being evaluated.
type env struct{ e *event.Event }

// Compile compiles an expression that computes a value.
func Compile(src string) (*Program, error) { return compile(src, false) }

// CompileCondition compiles an expression that must be a boolean.
func CompileCondition(src string) (*Program, error) { return compile(src, true) }

func compile(src string, condition bool) (p *Program, err error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("the expression is empty")
	}
	if len(src) > MaxLength {
		return nil, fmt.Errorf("the expression is longer than %d bytes", MaxLength)
	}
	defer func() {
		// The library reports mistakes as errors; a panic is its bug, and
		// a configuration must not crash drover validate.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("the expression cannot be compiled: %v", r)
		}
	}()
	cfg := conf.CreateNew()
	expr.Env(&env{})(cfg)
	if condition {
		expr.AsBool()(cfg)
	}
	expr.MaxNodes(1000)(cfg)
	tree, err := parser.ParseWithConfig(src, cfg)
	if err != nil {
		return nil, err
	}
	p = &Program{src: src}
	// Field references become calls of one function per path that reads
	// the event: expr then needs no reflection on a Go type for them.
	callees := map[*ast.IdentifierNode]bool{}
	ast.Walk(&tree.Node, collectCallees(callees))
	ast.Walk(&tree.Node, &fieldPatcher{p: p, cfg: cfg, callees: callees})
	if condition {
		p.native, _ = p.nativeBool(tree.Node)
	}
	ast.Walk(&tree.Node, visitorFunc(rewriteIn))
	if _, err := checker.Check(tree, cfg); err != nil {
		return nil, err
	}
	if err := optimizer.Optimize(&tree.Node, cfg); err != nil {
		return nil, err
	}
	prog, err := compiler.Compile(tree, cfg)
	if err != nil {
		return nil, err
	}
	p.prog = prog
	p.vms.New = func() any { return &vmState{} }
	return p, nil
}

type vmState struct {
	vm  vm.VM
	env env
}

// String returns the expression's text.
func (p *Program) String() string { return p.src }

// Native reports whether the condition is evaluated by the native
// evaluator, without allocating.
func (p *Program) Native() bool { return p.native != nil }

// Match evaluates a condition for e. An evaluation error (a comparison of a
// string with a number, a missing field where a value is needed) is false,
// with the error returned for the caller to count.
func (p *Program) Match(e *event.Event) (bool, error) {
	if p.native != nil {
		return p.native(e), nil
	}
	out, err := p.run(e)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

// Eval evaluates the expression for e and returns its value: strings,
// numbers, booleans and nil as themselves, times as times; lists and maps
// as JSON.
func (p *Program) Eval(e *event.Event) (event.Value, error) {
	out, err := p.run(e)
	if err != nil {
		return event.Value{}, err
	}
	return FromAny(out), nil
}

func (p *Program) run(e *event.Event) (out any, err error) {
	st := p.vms.Get().(*vmState)
	st.env.e = e
	out, err = st.vm.Run(p.prog, &st.env)
	st.env.e = nil
	p.vms.Put(st)
	return out, err
}

// collectCallees finds the identifiers that name functions, which are not
// fields.
func collectCallees(into map[*ast.IdentifierNode]bool) ast.Visitor {
	return visitorFunc(func(n *ast.Node) {
		if c, ok := (*n).(*ast.CallNode); ok {
			if id, ok := c.Callee.(*ast.IdentifierNode); ok {
				into[id] = true
			}
		}
	})
}

type visitorFunc func(n *ast.Node)

func (f visitorFunc) Visit(n *ast.Node) { f(n) }

// fieldPatcher turns every field reference (an identifier, and member
// accesses with constant names on one) into a call of a function of its
// own that reads that path from the event. ast.Walk visits children first,
// so a member access finds its object already patched and extends its path.
type fieldPatcher struct {
	p       *Program
	cfg     *conf.Config
	callees map[*ast.IdentifierNode]bool
	nodes   map[*ast.CallNode]int // patched call -> path index
}

const pathFuncPrefix = "$field"

func (f *fieldPatcher) Visit(n *ast.Node) {
	if f.nodes == nil {
		f.nodes = map[*ast.CallNode]int{}
	}
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		if f.callees[x] || strings.HasPrefix(x.Value, "$") {
			return
		}
		f.patch(n, []string{x.Value})
	case *ast.MemberNode:
		call, ok := x.Node.(*ast.CallNode)
		if !ok || x.Optional || x.Method {
			return
		}
		idx, ok := f.nodes[call]
		prop, isStr := x.Property.(*ast.StringNode)
		if !ok || !isStr {
			return
		}
		segs := append(append([]string(nil), f.p.paths[idx]...), prop.Value)
		f.patch(n, segs)
	}
}

// rewriteIn turns "x in [a, b]" into "x == a or x == b" for the virtual
// machine: expr's optimizer makes a constant list a set that finds a
// missing field (nil) in [""], which == does not (the native evaluator
// agrees with ==).
func rewriteIn(n *ast.Node) {
	x, ok := (*n).(*ast.BinaryNode)
	if !ok || x.Operator != "in" {
		return
	}
	arr, ok := x.Right.(*ast.ArrayNode)
	if !ok || len(arr.Nodes) == 0 {
		return
	}
	for _, el := range arr.Nodes {
		if _, lit := literalOf(el); !lit {
			return
		}
	}
	var or ast.Node
	for _, el := range arr.Nodes {
		var eq ast.Node = &ast.BinaryNode{Operator: "==", Left: x.Left, Right: el}
		if or == nil {
			or = eq
		} else {
			or = &ast.BinaryNode{Operator: "||", Left: or, Right: eq}
		}
	}
	ast.Patch(n, or)
}

func (f *fieldPatcher) patch(n *ast.Node, segs []string) {
	idx := len(f.p.paths)
	f.p.paths = append(f.p.paths, segs)
	name := pathFuncName(idx)
	f.cfg.Functions[name] = &builtin.Function{
		Name: name,
		Func: func(args ...any) (any, error) {
			v, ok := args[0].(*env).e.GetPath(segs)
			if !ok {
				return nil, nil
			}
			return toAny(v), nil
		},
		Types: []reflect.Type{pathFuncType},
	}
	call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: []ast.Node{&ast.IdentifierNode{Value: "$env"}}}
	ast.Patch(n, call)
	f.nodes[call] = idx
}

// toAny converts a field value for the virtual machine.
func toAny(v event.Value) any {
	switch v.Kind() {
	case event.KindString, event.KindBytes:
		return v.Str()
	case event.KindInt:
		return int(v.Int())
	case event.KindFloat:
		return v.Float()
	case event.KindBool:
		return v.Bool()
	case event.KindTime:
		return v.Time()
	case event.KindObject:
		m := map[string]any{}
		for _, f := range v.Object().All() {
			m[f.Key] = toAny(f.Value)
		}
		return m
	case event.KindRawJSON:
		return string(v.AppendText(nil))
	}
	return nil
}

// FromAny converts a value computed by an expression into a field value.
func FromAny(x any) event.Value {
	switch x := x.(type) {
	case nil:
		return event.Value{}
	case string:
		return event.StringValue(x)
	case bool:
		return event.BoolValue(x)
	case int:
		return event.IntValue(int64(x))
	case int64:
		return event.IntValue(x)
	case int32:
		return event.IntValue(int64(x))
	case uint:
		return event.IntValue(int64(x))
	case uint64:
		return event.IntValue(int64(x))
	case float64:
		return event.FloatValue(x)
	case float32:
		return event.FloatValue(float64(x))
	case time.Time:
		return event.TimeValue(x)
	case time.Duration:
		return event.StringValue(x.String())
	case map[string]any:
		fs := make([]event.Field, 0, len(x))
		for k, v := range x {
			fs = append(fs, event.Field{Key: k, Value: FromAny(v)})
		}
		return event.ObjectValue(event.NewFields(fs...))
	}
	return event.StringValue(fmt.Sprint(x))
}

// pathFuncType is the type of the path functions, for the checker.
var pathFuncType = reflect.TypeOf(func(*env) any { return nil })

func pathFuncName(i int) string { return pathFuncPrefix + strconv.Itoa(i) }
