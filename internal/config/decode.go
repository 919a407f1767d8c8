package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"

	"github.com/drover-dev/drover/internal/secret"
)

// Struct tags understood by the decoder:
//
//	hcl:"name"            an optional attribute
//	hcl:"name,required"   a required attribute
//	hcl:"name,block"      a nested block (struct: optional, defaults kept;
//	                      pointer: nil unless present; slice: repeatable)
//	enum:"a,b,c"          a string attribute that takes only these values
//	secret:"true"         the attribute's value is a secret (see below)
//
// Secrets: the values of attributes named like secrets (password, token,
// api_key, ...: secret.IsSecretName) or tagged secret:"true", the values of
// map entries whose key is named so (an Authorization header), and the
// passwords of URLs are recorded, so that logs, errors and dumps can
// redact them.
//
// An embedded (anonymous) struct field without an hcl tag is flattened: its
// attributes and blocks belong to the enclosing block, so a component can
// embed a shared set of options.
//
// Attribute types: string, bool, int, int64, float64, []string,
// map[string]string, time.Duration ("5s", "250ms", "1h30m") and ByteSize.
// A field without an hcl tag is not configurable. Absent attributes keep the
// value the struct had before decoding, so defaults are set by the
// constructor. Unknown attributes and blocks are errors.

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

type fieldSpec struct {
	name     string
	index    []int
	block    bool
	required bool
	secret   bool
	enum     []string
}

func specsOf(t reflect.Type) []fieldSpec {
	var out []fieldSpec
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("hcl")
		if !ok && f.Anonymous && f.Type.Kind() == reflect.Struct {
			for _, inner := range specsOf(f.Type) {
				inner.index = append([]int{i}, inner.index...)
				out = append(out, inner)
			}
			continue
		}
		if !ok || tag == "" || tag == "-" {
			continue
		}
		parts := strings.Split(tag, ",")
		s := fieldSpec{name: parts[0], index: []int{i}}
		for _, p := range parts[1:] {
			switch p {
			case "block":
				s.block = true
			case "required":
				s.required = true
			default:
				panic(fmt.Sprintf("config: unknown hcl tag option %q on %s.%s", p, t.Name(), f.Name))
			}
		}
		if e, ok := f.Tag.Lookup("enum"); ok {
			s.enum = strings.Split(e, ",")
		}
		s.secret = f.Tag.Get("secret") == "true" || secret.IsSecretName(s.name)
		out = append(out, s)
	}
	return out
}

// SchemaOf returns the HCL schema of a config struct.
func SchemaOf(t reflect.Type) *hcl.BodySchema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s := &hcl.BodySchema{}
	for _, f := range specsOf(t) {
		if f.block {
			s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: f.name})
		} else {
			s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: f.name, Required: f.required})
		}
	}
	return s
}

// Ranges maps a dotted attribute or block path to where it is in the source.
type Ranges map[string]hcl.Range

// decoder decodes HCL bodies into tagged structs.
type decoder struct {
	ctx     *hcl.EvalContext
	ranges  Ranges
	secrets *secret.Set // nil: not recorded
}

// DecodeBody decodes body into the struct pointed to by target. With partial,
// attributes and blocks the struct does not know are left in the returned
// body instead of being reported. Paths of decoded attributes are recorded
// in ranges under prefix.
func DecodeBody(body hcl.Body, ctx *hcl.EvalContext, target any, partial bool, prefix string, ranges Ranges) (hcl.Body, hcl.Diagnostics) {
	return decodeBody(body, ctx, target, partial, prefix, ranges, nil)
}

// decodeBody is DecodeBody that records the secrets it decodes in secrets.
func decodeBody(body hcl.Body, ctx *hcl.EvalContext, target any, partial bool, prefix string, ranges Ranges, secrets *secret.Set) (hcl.Body, hcl.Diagnostics) {
	d := &decoder{ctx: ctx, ranges: ranges, secrets: secrets}
	v := reflect.ValueOf(target)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic("config: DecodeBody needs a pointer to a struct")
	}
	return d.body(body, v.Elem(), partial, prefix)
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func (d *decoder) body(body hcl.Body, v reflect.Value, partial bool, prefix string) (hcl.Body, hcl.Diagnostics) {
	schema := SchemaOf(v.Type())
	var (
		content *hcl.BodyContent
		remain  hcl.Body
		diags   hcl.Diagnostics
	)
	if partial {
		content, remain, diags = body.PartialContent(schema)
	} else {
		content, diags = body.Content(schema)
	}
	if content == nil {
		return remain, diags
	}
	blocks := content.Blocks.ByType()
	for _, f := range specsOf(v.Type()) {
		fv := v.FieldByIndex(f.index)
		path := join(prefix, f.name)
		if f.block {
			diags = append(diags, d.blocks(blocks[f.name], fv, path)...)
			continue
		}
		attr, ok := content.Attributes[f.name]
		if !ok {
			continue
		}
		if d.ranges != nil {
			d.ranges[path] = attr.Range
		}
		diags = append(diags, d.attr(attr, fv, f, path)...)
	}
	return remain, diags
}

func (d *decoder) blocks(bs hcl.Blocks, fv reflect.Value, path string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	switch fv.Kind() {
	case reflect.Slice:
		out := reflect.MakeSlice(fv.Type(), 0, len(bs))
		for i, b := range bs {
			elem := reflect.New(fv.Type().Elem()).Elem()
			p := fmt.Sprintf("%s[%d]", path, i)
			if d.ranges != nil {
				d.ranges[p] = b.DefRange
			}
			_, ds := d.body(b.Body, elem, false, p)
			diags = append(diags, ds...)
			out = reflect.Append(out, elem)
		}
		fv.Set(out)
		return diags
	case reflect.Pointer, reflect.Struct:
		if len(bs) == 0 {
			return nil
		}
		if len(bs) > 1 {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Duplicate block",
				Detail:   fmt.Sprintf("Only one %q block is allowed here; another one was defined at %s.", bs[0].Type, bs[0].DefRange),
				Subject:  &bs[1].DefRange,
			}}
		}
		b := bs[0]
		if d.ranges != nil {
			d.ranges[path] = b.DefRange
		}
		target := fv
		if fv.Kind() == reflect.Pointer {
			nv := reflect.New(fv.Type().Elem())
			if def, ok := nv.Interface().(interface{ SetDefaults() }); ok {
				def.SetDefaults()
			}
			fv.Set(nv)
			target = nv.Elem()
		}
		_, ds := d.body(b.Body, target, false, path)
		return ds
	}
	panic(fmt.Sprintf("config: block field %s must be a struct, pointer or slice", path))
}

func (d *decoder) attr(attr *hcl.Attribute, fv reflect.Value, f fieldSpec, path string) hcl.Diagnostics {
	val, diags := attr.Expr.Value(d.ctx)
	if diags.HasErrors() {
		return diags
	}
	fail := func(format string, args ...any) hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid value for %q", f.name),
			Detail:   fmt.Sprintf(format, args...),
			Subject:  attr.Expr.Range().Ptr(),
		}}
	}
	if val.IsNull() {
		return fail("The value must not be null.")
	}
	if !val.IsWhollyKnown() {
		return fail("The value must be known when the configuration is loaded.")
	}
	switch fv.Type() {
	case durationType:
		s, err := convert.Convert(val, cty.String)
		if err != nil {
			return fail("Expected a duration such as \"5s\" or \"250ms\".")
		}
		dur, perr := time.ParseDuration(s.AsString())
		if perr != nil {
			return fail("Expected a duration such as \"5s\" or \"250ms\", got %q.", s.AsString())
		}
		if dur < 0 {
			return fail("The duration must not be negative.")
		}
		fv.SetInt(int64(dur))
		return nil
	case byteSizeType:
		if val.Type() == cty.Number {
			bf := val.AsBigFloat()
			n, _ := bf.Int64()
			if bf.Sign() < 0 {
				return fail("The size must not be negative.")
			}
			fv.SetInt(n)
			return nil
		}
		s, err := convert.Convert(val, cty.String)
		if err != nil {
			return fail("Expected a size such as 10485760 or \"10MiB\".")
		}
		n, perr := ParseByteSize(s.AsString())
		if perr != nil {
			return fail("%s.", capitalize(perr.Error()))
		}
		fv.SetInt(int64(n))
		return nil
	}
	ty, err := gocty.ImpliedType(fv.Interface())
	if err != nil {
		panic(fmt.Sprintf("config: field %s has an unsupported type %s", path, fv.Type()))
	}
	cv, err := convert.Convert(val, ty)
	if err != nil {
		return fail("Expected %s: %s.", ty.FriendlyName(), err)
	}
	if err := gocty.FromCtyValue(cv, fv.Addr().Interface()); err != nil {
		var pe cty.PathError
		if errors.As(err, &pe) {
			return fail("%s.", capitalize(pe.Error()))
		}
		return fail("%s.", capitalize(err.Error()))
	}
	d.noteSecrets(f, fv)
	if len(f.enum) > 0 {
		s := fv.String()
		for _, e := range f.enum {
			if s == e {
				return nil
			}
		}
		return fail("Expected one of %s, got %q.", quoteList(f.enum), s)
	}
	return nil
}

// noteSecrets records the secrets in a decoded attribute.
func (d *decoder) noteSecrets(f fieldSpec, fv reflect.Value) {
	if d.secrets == nil {
		return
	}
	switch v := fv.Interface().(type) {
	case string:
		if f.secret {
			d.secrets.Add(v)
		}
		d.secrets.AddURLPassword(v)
	case []string:
		for _, s := range v {
			if f.secret {
				d.secrets.Add(s)
			}
			d.secrets.AddURLPassword(s)
		}
	case map[string]string:
		for k, s := range v {
			if f.secret || secret.IsSecretName(k) {
				d.secrets.Add(s)
			}
			d.secrets.AddURLPassword(s)
		}
	}
}

func quoteList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
