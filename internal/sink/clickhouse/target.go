package clickhouse

import (
	"fmt"
	"strings"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/template"
)

// router renders the database and table of events from the configured
// templates, falling back to the defaults for templates that render empty.
type router struct {
	db, table       *template.Template // db is nil without a database template
	defDB, defTable string
	constant        bool // both templates are constant: every event has the same target
}

func newRouter(c *Config) *router {
	r := &router{table: template.MustParse(c.Table), defDB: c.DefaultDatabase, defTable: c.DefaultTable}
	if c.Database != "" {
		r.db = template.MustParse(c.Database)
	}
	r.constant = r.table.IsConstant() && (r.db == nil || r.db.IsConstant())
	return r
}

// render appends the target of e to dst as database, NUL, table (the
// database part empty without a database template). missing names the
// template field that rendered empty when there is no default to fall
// back to; dst is then incomplete.
func (r *router) render(dst []byte, e *event.Event) (out []byte, missing string) {
	start := len(dst)
	if r.db != nil {
		var ok bool
		dst, ok = r.db.Render(dst, e)
		if !ok {
			if r.defDB == "" {
				return dst, "database: " + r.db.FirstMissing(e)
			}
			dst = append(dst[:start], r.defDB...)
		}
	}
	dst = append(dst, 0)
	mark := len(dst)
	dst, ok := r.table.Render(dst, e)
	if !ok {
		if r.defTable == "" {
			return dst, "table: " + r.table.FirstMissing(e)
		}
		dst = append(dst[:mark], r.defTable...)
	}
	return dst, ""
}

// target is the table a group of events is inserted into.
type target struct {
	database, table string
}

func parseTarget(key string) target {
	db, table, _ := strings.Cut(key, "\x00")
	return target{database: db, table: table}
}

// String returns the target as ClickHouse names it: `db`.`table`, or
// `table` in the user's default database.
func (t target) String() string {
	if t.database == "" {
		return quoteIdent(t.table)
	}
	return quoteIdent(t.database) + "." + quoteIdent(t.table)
}

// quoteIdent quotes an identifier in backticks, escaping backslashes and
// backticks, so that any rendered name is one identifier and never SQL.
func quoteIdent(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('`')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '`', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 0:
			b.WriteString(`\0`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('`')
	return b.String()
}

// group is the events of a request that go to one target, as runs of
// consecutive event indexes.
type group struct {
	key     string // database NUL table; "" for events without a target
	missing string // why the events have no target
	runs    [][2]int
	n       int
}

// route splits the events of req by target, in order of first
// appearance. scratch is reused between calls.
func (r *router) route(req *batch.Request, scratch []byte) ([]*group, []byte) {
	var groups []*group
	var last *group
	for i, e := range req.Events() {
		var missing string
		scratch, missing = r.render(scratch[:0], e)
		g := last
		if g == nil || !g.is(scratch, missing) {
			g = nil
			for _, cand := range groups {
				if cand.is(scratch, missing) {
					g = cand
					break
				}
			}
			if g == nil {
				g = &group{missing: missing}
				if missing == "" {
					g.key = string(scratch)
				}
				groups = append(groups, g)
			}
		}
		if k := len(g.runs); k > 0 && g.runs[k-1][1] == i {
			g.runs[k-1][1] = i + 1
		} else {
			g.runs = append(g.runs, [2]int{i, i + 1})
		}
		g.n++
		last = g
	}
	return groups, scratch
}

func (g *group) is(key []byte, missing string) bool {
	if g.missing != "" || missing != "" {
		return g.missing == missing
	}
	return g.key == string(key)
}

// each calls fn with the index of every event of the group, in order.
func (g *group) each(fn func(i int)) {
	for _, run := range g.runs {
		for i := run[0]; i < run[1]; i++ {
			fn(i)
		}
	}
}

// body returns the encoded events of the group: req.Body itself when the
// group is the whole request, else the group's ranges appended to buf.
func (g *group) body(req *batch.Request, buf []byte) []byte {
	if len(g.runs) == 1 && g.runs[0] == [2]int{0, req.Len()} {
		return req.Body
	}
	for _, run := range g.runs {
		buf = append(buf, req.EncodedRange(run[0], run[1])...)
	}
	return buf
}

// unroutableError is the error of events whose target template rendered
// empty without a default.
func unroutableError(r *router, g *group) error {
	return fmt.Errorf("%d events have no target: field %s is missing or empty and no default is set (table %q, database %q)",
		g.n, g.missing, r.table.String(), dbText(r))
}

func dbText(r *router) string {
	if r.db == nil {
		return ""
	}
	return r.db.String()
}

// nth returns the request index of the group's k-th event (from 0).
func (g *group) nth(k int) int {
	for _, run := range g.runs {
		if n := run[1] - run[0]; k >= n {
			k -= n
			continue
		}
		return run[0] + k
	}
	panic("clickhouse: group has fewer events")
}
