package loki

import (
	"bytes"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/template"
)

// tenantRouter renders the tenant of events: the X-Scope-OrgID header of
// the push that carries them.
type tenantRouter struct {
	// tmpl is the tenant_id template; nil sends every event to def.
	tmpl *template.Template
	// def is the tenant of events for which tmpl refers to a missing
	// field; "" sends them without the header.
	def      string
	metaOnly bool
}

func newTenantRouter(tmpl *template.Template, def string) *tenantRouter {
	r := &tenantRouter{tmpl: tmpl, def: def, metaOnly: true}
	if tmpl != nil {
		r.metaOnly = metaOnly(tmpl)
	}
	return r
}

// appendTenant appends e's tenant. Control characters, which a header
// cannot carry, become '_'.
func (r *tenantRouter) appendTenant(dst []byte, e *event.Event) []byte {
	if r.tmpl == nil {
		return append(dst, r.def...)
	}
	start := len(dst)
	dst, ok := r.tmpl.Render(dst, e)
	if !ok {
		return append(dst[:start], r.def...)
	}
	for i := start; i < len(dst); i++ {
		if dst[i] < 0x20 || dst[i] == 0x7f {
			dst[i] = '_'
		}
	}
	return dst
}

// tenantGroups partitions the events of a request by tenant. Its buffers
// are reused from one request to the next.
type tenantGroups struct {
	names  []byte  // the tenants, one after the other
	bounds []int   // tenant g is names[bounds[g]:bounds[g+1]]
	counts []int   // events per tenant
	of     []int32 // group of each event
	idx    []int32 // event indices, grouped by tenant in order of first appearance
	starts []int   // group g is idx[starts[g]:starts[g+1]]
	tmp    []byte
}

// split groups the events by the tenant r renders for them; a nil r puts
// every event into one group without a tenant.
func (t *tenantGroups) split(r *tenantRouter, evs []*event.Event) {
	t.names, t.bounds, t.counts, t.of = t.names[:0], append(t.bounds[:0], 0), t.counts[:0], t.of[:0]
	var (
		lastMeta  *event.Meta
		lastGroup int32
	)
	for _, e := range evs {
		if r == nil {
			if len(t.counts) == 0 {
				t.counts = append(t.counts, 0)
				t.bounds = append(t.bounds, 0)
			}
			t.of = append(t.of, 0)
			t.counts[0]++
			continue
		}
		if r.metaOnly && e.Fields == nil && e.Meta != nil && e.Meta == lastMeta {
			t.of = append(t.of, lastGroup)
			t.counts[lastGroup]++
			continue
		}
		t.tmp = r.appendTenant(t.tmp[:0], e)
		g := t.find(t.tmp)
		t.of = append(t.of, g)
		t.counts[g]++
		lastMeta, lastGroup = e.Meta, g
		if e.Fields != nil {
			lastMeta = nil
		}
	}
	t.starts = append(t.starts[:0], 0)
	for _, c := range t.counts {
		t.starts = append(t.starts, t.starts[len(t.starts)-1]+c)
	}
	t.idx = t.idx[:0]
	for range evs {
		t.idx = append(t.idx, 0)
	}
	fill := t.counts
	for g := range fill {
		fill[g] = t.starts[g]
	}
	for i, g := range t.of {
		t.idx[fill[g]] = int32(i)
		fill[g]++
	}
}

// find returns the group of tenant name, adding it when it is new.
func (t *tenantGroups) find(name []byte) int32 {
	for g := 0; g+1 < len(t.bounds); g++ {
		if bytes.Equal(t.names[t.bounds[g]:t.bounds[g+1]], name) {
			return int32(g)
		}
	}
	t.names = append(t.names, name...)
	t.bounds = append(t.bounds, len(t.names))
	t.counts = append(t.counts, 0)
	return int32(len(t.counts) - 1)
}

// len is the number of groups.
func (t *tenantGroups) len() int { return len(t.starts) - 1 }

// group returns the tenant and the event indices of group g.
func (t *tenantGroups) group(g int) (tenant []byte, idx []int32) {
	return t.names[t.bounds[g]:t.bounds[g+1]], t.idx[t.starts[g]:t.starts[g+1]]
}
