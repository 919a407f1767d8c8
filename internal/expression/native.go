package expression

import (
	"regexp"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/drover-dev/drover/internal/event"
)

// The native evaluator: conditions made of comparisons between one field
// and literals, joined by and, or and not, become Go closures over
// event.Value that allocate nothing. Their results agree with expr's for
// every event (expression_test.go checks both on the same table): a
// missing field is nil, equality between a string and a number is false,
// an ordering between values that are not both numbers or both strings is
// an error in expr and false here, where Match also reports false.

type boolFn = func(e *event.Event) bool

// literal is a constant operand.
type literal struct {
	kind event.Kind // KindNull, KindString, KindInt, KindFloat, KindBool
	str  string
	num  float64
	b    bool
}

func literalOf(n ast.Node) (literal, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return literal{kind: event.KindString, str: x.Value}, true
	case *ast.IntegerNode:
		return literal{kind: event.KindFloat, num: float64(x.Value)}, true
	case *ast.FloatNode:
		return literal{kind: event.KindFloat, num: x.Value}, true
	case *ast.BoolNode:
		return literal{kind: event.KindBool, b: x.Value}, true
	case *ast.NilNode:
		return literal{kind: event.KindNull}, true
	}
	return literal{}, false
}

// pathOf returns the path of a patched field reference.
func (p *Program) pathOf(n ast.Node) ([]string, bool) {
	c, ok := n.(*ast.CallNode)
	if !ok {
		return nil, false
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	if !ok || !strings.HasPrefix(id.Value, pathFuncPrefix) {
		return nil, false
	}
	for i, segs := range p.paths {
		if id.Value == pathFuncName(i) {
			return segs, true
		}
	}
	return nil, false
}

func number(v event.Value) (float64, bool) {
	switch v.Kind() {
	case event.KindInt:
		return float64(v.Int()), true
	case event.KindFloat:
		return v.Float(), true
	}
	return 0, false
}

func isString(v event.Value) bool {
	return v.Kind() == event.KindString || v.Kind() == event.KindBytes
}

// equal reports whether a field value equals a literal as expr's == does.
func equal(v event.Value, found bool, l literal) bool {
	if !found || v.Kind() == event.KindNull {
		return l.kind == event.KindNull
	}
	switch l.kind {
	case event.KindString:
		return isString(v) && v.Str() == l.str
	case event.KindFloat:
		n, ok := number(v)
		return ok && n == l.num
	case event.KindBool:
		return v.Kind() == event.KindBool && v.Bool() == l.b
	}
	return false
}

func (p *Program) nativeBool(n ast.Node) (boolFn, bool) {
	switch x := n.(type) {
	case *ast.BoolNode:
		b := x.Value
		return func(*event.Event) bool { return b }, true
	case *ast.UnaryNode:
		if x.Operator != "not" && x.Operator != "!" {
			return nil, false
		}
		inner, ok := p.nativeBool(x.Node)
		if !ok {
			return nil, false
		}
		return func(e *event.Event) bool { return !inner(e) }, true
	case *ast.CallNode:
		segs, ok := p.pathOf(x)
		if !ok {
			return nil, false
		}
		// A field alone: true only when it holds the boolean true.
		return func(e *event.Event) bool {
			v, ok := e.GetPath(segs)
			return ok && v.Kind() == event.KindBool && v.Bool()
		}, true
	case *ast.BinaryNode:
		return p.nativeBinary(x)
	}
	return nil, false
}

func (p *Program) nativeBinary(x *ast.BinaryNode) (boolFn, bool) {
	switch x.Operator {
	case "and", "&&", "or", "||":
		l, ok1 := p.nativeBool(x.Left)
		r, ok2 := p.nativeBool(x.Right)
		if !ok1 || !ok2 {
			return nil, false
		}
		if x.Operator == "and" || x.Operator == "&&" {
			return func(e *event.Event) bool { return l(e) && r(e) }, true
		}
		return func(e *event.Event) bool { return l(e) || r(e) }, true
	}
	segs, ok := p.pathOf(x.Left)
	right := x.Right
	op := x.Operator
	if !ok {
		// literal OP field: only the symmetric operators.
		if op != "==" && op != "!=" {
			return nil, false
		}
		if segs, ok = p.pathOf(x.Right); !ok {
			return nil, false
		}
		right = x.Left
	}
	if op == "in" {
		arr, ok := right.(*ast.ArrayNode)
		if !ok || len(arr.Nodes) == 0 {
			return nil, false
		}
		lits := make([]literal, 0, len(arr.Nodes))
		for _, n := range arr.Nodes {
			l, ok := literalOf(n)
			if !ok {
				return nil, false
			}
			lits = append(lits, l)
		}
		return func(e *event.Event) bool {
			v, found := e.GetPath(segs)
			for _, l := range lits {
				if equal(v, found, l) {
					return true
				}
			}
			return false
		}, true
	}
	lit, ok := literalOf(right)
	if !ok {
		return nil, false
	}
	switch op {
	case "==":
		return func(e *event.Event) bool { v, f := e.GetPath(segs); return equal(v, f, lit) }, true
	case "!=":
		return func(e *event.Event) bool { v, f := e.GetPath(segs); return !equal(v, f, lit) }, true
	case "contains", "startsWith", "endsWith":
		if lit.kind != event.KindString {
			return nil, false
		}
		test := map[string]func(string, string) bool{
			"contains": strings.Contains, "startsWith": strings.HasPrefix, "endsWith": strings.HasSuffix,
		}[op]
		s := lit.str
		return func(e *event.Event) bool {
			v, f := e.GetPath(segs)
			return f && isString(v) && test(v.Str(), s)
		}, true
	case "matches":
		if lit.kind != event.KindString {
			return nil, false
		}
		re, err := regexp.Compile(lit.str)
		if err != nil {
			return nil, false // the checker reports it
		}
		return func(e *event.Event) bool {
			v, f := e.GetPath(segs)
			return f && isString(v) && re.MatchString(v.Str())
		}, true
	case "<", "<=", ">", ">=":
		if lit.kind != event.KindFloat && lit.kind != event.KindString {
			return nil, false
		}
		return func(e *event.Event) bool {
			v, f := e.GetPath(segs)
			if !f {
				return false
			}
			var c int
			if lit.kind == event.KindString {
				if !isString(v) {
					return false
				}
				c = strings.Compare(v.Str(), lit.str)
			} else {
				n, ok := number(v)
				if !ok {
					return false
				}
				switch {
				case n < lit.num:
					c = -1
				case n > lit.num:
					c = 1
				}
			}
			switch op {
			case "<":
				return c < 0
			case "<=":
				return c <= 0
			case ">":
				return c > 0
			}
			return c >= 0
		}, true
	}
	return nil, false
}
