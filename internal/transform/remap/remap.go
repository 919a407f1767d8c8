// Package remap is the `transform "remap"` component: it sets, copies,
// renames and deletes fields, and masks secrets in the message and other
// string fields.
//
// The operations run in this order on every event, each kind in the order
// of its blocks: copy, rename, set, delete, redact. Paths are dotted
// ("nomad.meta.team"); "message" and "timestamp" are the event's own. A
// value comes from exactly one of value (a literal string), template
// (internal/template: "{{ nomad.job_name }}-{{ nomad.task_name }}") or
// expression (internal/expression: `status >= 500 ? "error" : "ok"`). A
// path of the stream metadata that is deleted or renamed leaves a copy of
// the metadata made once per stream, so that events keep sharing it.
//
// Redaction replaces what the patterns match with replacement: the
// built-in patterns are "email", "credit_card" (13 to 19 digits, with
// spaces or dashes, that pass the Luhn check), "token" (the value after
// bearer, token, api_key, secret, password and the like) and "ipv4";
// custom ones are RE2 expressions whose whole match (or, when it has one,
// the group named "secret") is replaced.
package remap

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/expression"
	"github.com/drover-dev/drover/internal/template"
	"github.com/drover-dev/drover/internal/transform"
)

// Type is the component type name.
const Type = "remap"

func init() {
	component.RegisterTransform(Type, func() *Config { return &Config{} }, nil, component.Infallible(New))
}

// Config is the configuration of a `transform "remap"` block.
type Config struct {
	Copy   []Move   `hcl:"copy,block"`
	Rename []Move   `hcl:"rename,block"`
	Set    []Set    `hcl:"set,block"`
	Delete []string `hcl:"delete"`
	Redact *Redact  `hcl:"redact,block"`
}

// Move copies or renames a field.
type Move struct {
	From string `hcl:"from,required"`
	To   string `hcl:"to,required"`
}

// Set sets a field to a value.
type Set struct {
	Field      string `hcl:"field,required"`
	Value      string `hcl:"value"`
	Template   string `hcl:"template"`
	Expression string `hcl:"expression"`

	literal bool
	tmpl    *template.Template
	expr    *expression.Program
}

// Redact masks secrets.
type Redact struct {
	// Fields are the string fields to mask; default ["message"].
	Fields []string `hcl:"fields"`
	// Patterns are built-in pattern names.
	Patterns []string `hcl:"patterns"`
	// Custom are RE2 expressions.
	Custom      []string `hcl:"custom"`
	Replacement string   `hcl:"replacement"`

	res  []*regexp.Regexp
	pre  []func([]byte) bool // per pattern, nil: always try
	card []bool              // per pattern: matches are checked with Luhn
}

// SetDefaults fills a redact block's defaults.
func (r *Redact) SetDefaults() {
	r.Fields = []string{"message"}
	r.Patterns = []string{"email", "credit_card", "token"}
	r.Replacement = "[REDACTED]"
}

// builtins are the redaction patterns by name. A group named "secret" is
// what gets replaced; otherwise the whole match.
var builtins = map[string]string{
	"email":       `[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`,
	"credit_card": `\b\d(?:[ \-]?\d){12,18}\b`,
	"token":       `(?i)(?:\bauthorization["']?\s*[:=]\s*["']?(?:bearer\s+|basic\s+)?|\bbearer\s+|\b(?:token|api[_\-]?key|apikey|secret|password|passwd|pwd)["']?\s*[:=]\s*["']?)(?P<secret>[^\s"',;&]{4,})`,
	"ipv4":        `\b(?:\d{1,3}\.){3}\d{1,3}\b`,
}

// prefilters tell cheaply whether a built-in pattern can match at all: a
// regular expression costs microseconds per line even when nothing matches.
var prefilters = map[string]func(s []byte) bool{
	"email": func(s []byte) bool { return bytes.IndexByte(s, '@') > 0 },
	"credit_card": func(s []byte) bool {
		n := 0
		for _, c := range s {
			if c >= '0' && c <= '9' {
				if n++; n >= 13 {
					return true
				}
			}
		}
		return false
	},
	"token": func(s []byte) bool {
		for _, w := range tokenWords {
			if containsFold(s, w) {
				return true
			}
		}
		return false
	},
	"ipv4": func(s []byte) bool { return bytes.Count(s, []byte{'.'}) >= 3 },
}

var tokenWords = []string{"bearer", "token", "key", "secret", "pass", "pwd", "authorization"}

// containsFold reports whether s contains the lowercase ASCII word in any
// case, without allocating.
func containsFold(s []byte, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		j := 0
		for j < len(word) && s[i+j]|0x20 == word[j] {
			j++
		}
		if j == len(word) {
			return true
		}
	}
	return false
}

// Validate checks the operations and compiles their values.
func (c *Config) Validate() error {
	for i, m := range c.Copy {
		if err := checkPaths(fmt.Sprintf("copy[%d]", i), m); err != nil {
			return err
		}
	}
	for i, m := range c.Rename {
		if err := checkPaths(fmt.Sprintf("rename[%d]", i), m); err != nil {
			return err
		}
	}
	for i := range c.Set {
		s := &c.Set[i]
		field := fmt.Sprintf("set[%d]", i)
		if err := checkPath(field+".field", s.Field); err != nil {
			return err
		}
		n := 0
		for _, v := range []string{s.Value, s.Template, s.Expression} {
			if v != "" {
				n++
			}
		}
		if n > 1 {
			return config.Errorf(field, "give one of value, template and expression")
		}
		switch {
		case s.Template != "":
			t, err := template.Parse(s.Template)
			if err != nil {
				return config.Errorf(field+".template", "%v", err)
			}
			s.tmpl = t
		case s.Expression != "":
			p, err := expression.Compile(s.Expression)
			if err != nil {
				return config.Errorf(field+".expression", "%v", err)
			}
			s.expr = p
		default:
			s.literal = true
		}
	}
	for i, d := range c.Delete {
		if err := checkPath(fmt.Sprintf("delete[%d]", i), d); err != nil {
			return err
		}
	}
	if r := c.Redact; r != nil {
		r.res, r.pre, r.card = nil, nil, nil
		for _, name := range r.Patterns {
			src, ok := builtins[name]
			if !ok {
				return config.Errorf("redact.patterns", "unknown pattern %q (known: credit_card, email, ipv4, token)", name)
			}
			r.res = append(r.res, regexp.MustCompile(src))
			r.pre = append(r.pre, prefilters[name])
			r.card = append(r.card, name == "credit_card")
		}
		for i, src := range r.Custom {
			re, err := regexp.Compile(src)
			if err != nil {
				return config.Errorf(fmt.Sprintf("redact.custom[%d]", i), "%v", err)
			}
			r.res = append(r.res, re)
			r.pre = append(r.pre, nil)
			r.card = append(r.card, false)
		}
		if len(r.res) == 0 {
			return config.Errorf("redact.patterns", "no pattern to redact")
		}
		for i, f := range r.Fields {
			if err := checkPath(fmt.Sprintf("redact.fields[%d]", i), f); err != nil {
				return err
			}
		}
	}
	if len(c.Copy)+len(c.Rename)+len(c.Set)+len(c.Delete) == 0 && c.Redact == nil {
		return config.Errorf("set", "the remap does nothing: give set, copy, rename, delete or redact")
	}
	return nil
}

func checkPaths(field string, m Move) error {
	if err := checkPath(field+".from", m.From); err != nil {
		return err
	}
	return checkPath(field+".to", m.To)
}

func checkPath(field, path string) error {
	if path == "" {
		return config.Errorf(field, "must not be empty")
	}
	for _, s := range transform.SplitPath(path) {
		if s == "" {
			return config.Errorf(field, "%q has an empty segment", path)
		}
	}
	return nil
}

type move struct {
	from, to []string
	cache    *transform.MetaCache
}

type set struct {
	path []string
	src  *Set
}

type deletion struct {
	path  []string
	cache *transform.MetaCache
}

// Remap is the remap transform.
type Remap struct {
	copies, renames []move
	sets            []set
	deletes         []deletion
	redact          *Redact
	redactPaths     [][]string
	discards        *transform.Discards
	scratch         sync.Pool
}

// New returns a remap transform for a validated config.
func New(ctx component.Context, cfg *Config) *Remap {
	r := &Remap{discards: transform.NewDiscards(ctx), redact: cfg.Redact}
	r.scratch.New = func() any { return &scratch{} }
	for _, m := range cfg.Copy {
		r.copies = append(r.copies, move{from: transform.SplitPath(m.From), to: transform.SplitPath(m.To)})
	}
	for _, m := range cfg.Rename {
		r.renames = append(r.renames, move{from: transform.SplitPath(m.From), to: transform.SplitPath(m.To), cache: &transform.MetaCache{}})
	}
	for i := range cfg.Set {
		r.sets = append(r.sets, set{path: transform.SplitPath(cfg.Set[i].Field), src: &cfg.Set[i]})
	}
	for _, d := range cfg.Delete {
		r.deletes = append(r.deletes, deletion{path: transform.SplitPath(d), cache: &transform.MetaCache{}})
	}
	if cfg.Redact != nil {
		for _, f := range cfg.Redact.Fields {
			r.redactPaths = append(r.redactPaths, transform.SplitPath(f))
		}
	}
	return r
}

// Process implements component.Transform.
func (r *Remap) Process(ctx context.Context, b *event.Batch, out component.Emitter) error {
	s := r.scratch.Get().(*scratch)
	defer r.scratch.Put(s)
	evs := make([]event.Event, len(b.Events))
	errs := 0
	mem := &s.mem
	for i := range b.Events {
		evs[i] = b.Events[i]
		e := &evs[i]
		for _, m := range r.copies {
			if v, ok := e.GetPath(m.from); ok {
				write(mem, e, m.to, v)
			}
		}
		for _, m := range r.renames {
			if v, ok := e.GetPath(m.from); ok {
				transform.DeletePath(e, m.from, m.cache)
				write(mem, e, m.to, v)
			}
		}
		for _, st := range r.sets {
			var v event.Value
			switch {
			case st.src.literal:
				v = event.StringValue(st.src.Value)
			case st.src.tmpl != nil:
				s.buf, _ = st.src.tmpl.Render(s.buf[:0], e)
				v = event.StringValue(mem.String(s.buf))
			default:
				var err error
				if v, err = st.src.expr.Eval(e); err != nil {
					errs++
					continue
				}
			}
			write(mem, e, st.path, v)
		}
		for _, d := range r.deletes {
			transform.DeletePath(e, d.path, d.cache)
		}
		if r.redact != nil {
			r.redactEvent(mem, e)
		}
	}
	if errs > 0 {
		r.discards.Metrics().Errors("evaluate").Add(float64(errs))
	}
	return out.Emit(ctx, &event.Batch{Events: evs, Ack: b.Ack})
}

// scratch is the memory of one Process call at a time: what mem hands
// out stays valid after it returns to the pool.
type scratch struct {
	mem transform.Scratch
	buf []byte
}

// write sets a path, with "message" and "timestamp" the event's own.
func write(mem *transform.Scratch, e *event.Event, path []string, v event.Value) {
	if len(path) == 1 {
		switch path[0] {
		case "message":
			if v.Kind() == event.KindString || v.Kind() == event.KindBytes {
				e.Message = mem.Text(v.Str())
			} else {
				e.Message = v.AppendText(nil)
			}
			return
		case "timestamp":
			switch v.Kind() {
			case event.KindTime:
				e.Timestamp = v.Time()
			default:
				if t, err := time.Parse(time.RFC3339Nano, string(v.AppendText(nil))); err == nil {
					e.Timestamp = t
				}
			}
			return
		}
	}
	mem.SetPath(e, path, v)
}

func (r *Remap) redactEvent(mem *transform.Scratch, e *event.Event) {
	for _, p := range r.redactPaths {
		if len(p) == 1 && p[0] == "message" {
			if m, ok := r.mask(e.Message); ok {
				e.Message = m
			}
			continue
		}
		v, ok := e.GetPath(p)
		if !ok || (v.Kind() != event.KindString && v.Kind() != event.KindBytes) {
			continue
		}
		if m, ok := r.mask([]byte(v.Str())); ok {
			mem.SetPath(e, p, event.StringValue(mem.String(m)))
		}
	}
}

// maskOne replaces the matches of pattern i in s and reports whether there
// were any.
func (r *Redact) maskOne(i int, s []byte) ([]byte, bool) {
	if r.pre[i] != nil && !r.pre[i](s) {
		return s, false
	}
	re := r.res[i]
	locs := re.FindAllSubmatchIndex(s, -1)
	if locs == nil {
		return s, false
	}
	group := re.SubexpIndex("secret")
	isCard := r.card[i]
	var out []byte
	last, changed := 0, false
	for _, l := range locs {
		start, end := l[0], l[1]
		if group > 0 && l[2*group] >= 0 {
			start, end = l[2*group], l[2*group+1]
		}
		if isCard && !luhn(s[start:end]) {
			continue
		}
		out = append(out, s[last:start]...)
		out = append(out, r.Replacement...)
		last, changed = end, true
	}
	if !changed {
		return s, false
	}
	return append(out, s[last:]...), true
}

// mask returns s with every match of every pattern replaced, and whether
// anything was.
func (r *Remap) mask(s []byte) ([]byte, bool) {
	any := false
	for i := range r.redact.res {
		var ok bool
		s, ok = r.redact.maskOne(i, s)
		any = any || ok
	}
	return s, any
}

// luhn checks the digits of a card number.
func luhn(b []byte) bool {
	sum, n, double := 0, 0, false
	for i := len(b) - 1; i >= 0; i-- {
		c := b[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
		n++
	}
	return n >= 13 && sum%10 == 0
}
