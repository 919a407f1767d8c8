package elasticsearch

import (
	"strings"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/template"
)

// router renders the index or data stream name of events.
type router struct {
	// whole renders the entire name (bulk mode's index, or a data
	// stream's name); nil in data stream mode with parts.
	whole    *template.Template
	wholeDef string
	// typ, dataset and namespace are the parts of a data stream name.
	typ                string
	dataset, namespace *template.Template
	datasetDef, nsDef  string
	constant           bool   // every event gets name
	name               string // the name when constant
}

func newRouter(c *Config) *router {
	r := &router{}
	switch {
	case c.Mode == ModeBulk:
		r.whole, r.wholeDef = template.MustParse(c.Index), c.DefaultIndex
	case c.DataStream.Name != "":
		r.whole, r.wholeDef = template.MustParse(c.DataStream.Name), c.DataStream.DefaultName
	default:
		d := c.DataStream
		r.typ = orDefault(d.Type, DefaultDataStreamType)
		r.dataset = template.MustParse(orDefault(d.Dataset, DefaultDataset))
		r.namespace = template.MustParse(orDefault(d.Namespace, DefaultNamespace))
		r.datasetDef, r.nsDef = d.DefaultDataset, d.DefaultNamespace
	}
	if r.whole != nil && r.whole.IsConstant() {
		r.constant, r.name = true, r.whole.String()
	}
	if r.whole == nil && r.dataset.IsConstant() && r.namespace.IsConstant() {
		r.constant, r.name = true, r.typ+"-"+r.dataset.String()+"-"+r.namespace.String()
	}
	return r
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// appendName appends e's index or data stream name. A template that refers
// to a missing field is replaced by its default. Rendered values are made
// valid: upper case becomes lower case, and bytes an index name cannot
// hold (\ / * ? " < > | space , # : control characters and non-ASCII
// bytes) become '_', as does '-' inside a data stream's dataset or
// namespace. The result needs no JSON escaping.
func (r *router) appendName(dst []byte, e *event.Event) []byte {
	if r.constant {
		return append(dst, r.name...)
	}
	if r.whole != nil {
		return appendPart(dst, r.whole, r.wholeDef, e, false)
	}
	dst = append(dst, r.typ...)
	dst = append(dst, '-')
	dst = appendPart(dst, r.dataset, r.datasetDef, e, true)
	dst = append(dst, '-')
	return appendPart(dst, r.namespace, r.nsDef, e, true)
}

func appendPart(dst []byte, t *template.Template, def string, e *event.Event, noDash bool) []byte {
	start := len(dst)
	dst, ok := t.Render(dst, e)
	if !ok {
		return append(dst[:start], def...)
	}
	sanitizeName(dst[start:], noDash)
	return dst
}

// sanitizeName rewrites b in place into valid index name bytes.
func sanitizeName(b []byte, noDash bool) {
	for i, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c + ('a' - 'A')
		case c < 0x20 || c >= 0x7f || strings.IndexByte(forbiddenIndexNameBytes, c) >= 0 || (noDash && c == '-'):
			b[i] = '_'
		}
	}
}
