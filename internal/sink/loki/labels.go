package loki

import (
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/jsonenc"
	"github.com/drover-dev/drover/internal/template"
)

// fallbackLabel is the label set of an event for which no label rendered:
// Loki refuses a stream without labels.
const fallbackLabel = `{agent="drover"}`

// namedTemplate is one label or structured metadata entry.
type namedTemplate struct {
	name string
	tmpl *template.Template
	// def is used when the template refers to a missing field and hasDef
	// is set; otherwise the entry is left out.
	def    string
	hasDef bool
}

// templateSet is a list of named templates sorted by name.
type templateSet struct {
	list []namedTemplate
	// metaOnly: no template refers to "message" or "timestamp", so for an
	// event without Fields of its own the rendering depends only on its
	// Meta and can be reused for the next event of the same Meta.
	metaOnly bool
}

// newTemplateSet parses a validated map of names to templates.
func newTemplateSet(m, defaults map[string]string) templateSet {
	s := templateSet{metaOnly: true}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		t := template.MustParse(m[name])
		def, hasDef := defaults[name]
		s.list = append(s.list, namedTemplate{name: name, tmpl: t, def: def, hasDef: hasDef})
		if !metaOnly(t) {
			s.metaOnly = false
		}
	}
	return s
}

// metaOnly reports whether t's rendering depends only on the Meta of an
// event that has no Fields of its own.
func metaOnly(t *template.Template) bool {
	for _, f := range t.Fields() {
		if f == "message" || f == "timestamp" {
			return false
		}
	}
	return true
}

// value renders entry i for e into tmp and returns the value and whether
// the entry is present.
func (s *templateSet) value(i int, tmp []byte, e *event.Event) ([]byte, bool) {
	nt := &s.list[i]
	out, ok := nt.tmpl.Render(tmp[:0], e)
	if ok {
		return out, true
	}
	if nt.hasDef {
		return append(out[:0], nt.def...), nt.def != ""
	}
	return out, false
}

// appendLabels appends e's stream selector, {a="x", b="y"}, with labels
// sorted by name; fallbackLabel when no label is present. tmp is scratch
// space, returned for reuse.
func (s *templateSet) appendLabels(dst, tmp []byte, e *event.Event) (out, scratch []byte) {
	start := len(dst)
	dst = append(dst, '{')
	for i := range s.list {
		var v []byte
		var ok bool
		if v, ok = s.value(i, tmp, e); !ok {
			tmp = v
			continue
		}
		tmp = v
		if len(dst) > start+1 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, s.list[i].name...)
		dst = append(dst, '=')
		dst = appendQuoted(dst, v)
	}
	if len(dst) == start+1 {
		return append(dst[:start], fallbackLabel...), tmp
	}
	return append(dst, '}'), tmp
}

// appendJSONLabels appends e's labels as a JSON object, as the JSON push
// format wants them; {"agent":"drover"} when no label is present.
func (s *templateSet) appendJSONLabels(dst, tmp []byte, e *event.Event) (out, scratch []byte) {
	start := len(dst)
	dst = append(dst, '{')
	for i := range s.list {
		var v []byte
		var ok bool
		if v, ok = s.value(i, tmp, e); !ok {
			tmp = v
			continue
		}
		tmp = v
		if len(dst) > start+1 {
			dst = append(dst, ',')
		}
		dst = jsonenc.AppendString(dst, s.list[i].name)
		dst = append(dst, ':')
		dst = jsonenc.AppendBytes(dst, v)
	}
	if len(dst) == start+1 {
		return append(dst[:start], `{"agent":"drover"}`...), tmp
	}
	return append(dst, '}'), tmp
}

// appendQuoted appends v as a double-quoted label value that Loki's label
// parser (Go string literal syntax) reads back as v: backslash, quote and
// control characters are escaped, invalid UTF-8 becomes U+FFFD.
func appendQuoted(dst, v []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(v[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, v[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// highCardinality lists the last path segments of fields whose values
// change per allocation, file or line: as labels they make a Loki stream
// each and overload its index.
var highCardinality = []string{
	"alloc_id", "alloc_name", "file", "message", "timestamp",
	"trace_id", "span_id", "request_id",
}

// highCardinalityFields returns the fields of the label templates that
// are known to take many values, as "label=field" pairs.
func (s *templateSet) highCardinalityFields() []string {
	var out []string
	for _, nt := range s.list {
		for _, f := range nt.tmpl.Fields() {
			last := f[strings.LastIndexByte(f, '.')+1:]
			for _, h := range highCardinality {
				if last == h {
					out = append(out, nt.name+"="+f)
				}
			}
		}
	}
	return out
}
