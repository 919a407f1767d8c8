// Package route is the `transform "route"` component: it sends each event
// to the named outputs whose condition it matches (to every one of them),
// and an event that matches none to the output "_unmatched". Other
// components read an output as inputs = ["<route id>.<output>"]. The route
// has no default output of its own.
//
// Events sent to an output that nothing reads are discarded, counted with
// reason "unrouted" ("unmatched" for _unmatched). Every output's batch
// carries the acknowledgement of the batch it came from, so the source
// moves past it once every consumer of every output has it.
package route

import (
	"context"
	"fmt"
	"strings"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/expression"
	"github.com/drover-dev/drover/internal/transform"
)

// Type is the component type name.
const Type = "route"

// Unmatched is the output of the events that match no route.
const Unmatched = "_unmatched"

func init() {
	component.RegisterTransform(Type, func() *Config { return &Config{} }, outputs, New)
}

// outputs names the outputs of a route transform: one per route, and
// Unmatched.
func outputs(cfg component.Config) []string {
	c := cfg.(*Config)
	outs := make([]string, 0, len(c.Routes)+1)
	for _, r := range c.Routes {
		outs = append(outs, r.Name)
	}
	return append(outs, Unmatched)
}

// Config is the configuration of a `transform "route"` block.
type Config struct {
	Routes []Route `hcl:"route,block"`
}

// Route is one named output and its condition.
type Route struct {
	// Name is the output's name: lowercase letters, digits and
	// underscores, not starting with an underscore (reserved).
	Name      string `hcl:"name,required"`
	Condition string `hcl:"condition,required"`

	cond *expression.Program
}

// Validate checks the names and compiles the conditions.
func (c *Config) Validate() error {
	if len(c.Routes) == 0 {
		return config.Errorf("route", "at least one route block is needed")
	}
	seen := map[string]bool{}
	for i := range c.Routes {
		r := &c.Routes[i]
		field := fmt.Sprintf("route[%d]", i)
		if r.Name == "" || strings.HasPrefix(r.Name, "_") {
			return config.Errorf(field+".name", "must not be empty or start with an underscore (reserved, as in %q)", Unmatched)
		}
		if seen[r.Name] {
			return config.Errorf(field+".name", "%q is used by another route", r.Name)
		}
		seen[r.Name] = true
		p, err := expression.CompileCondition(r.Condition)
		if err != nil {
			return config.Errorf(field+".condition", "%v", err)
		}
		r.cond = p
	}
	return nil
}

type output struct {
	name   string
	cond   *expression.Program
	out    component.Emitter
	reason string
}

// Router sends events to the outputs whose conditions they match.
type Router struct {
	routes    []output
	unmatched output
	discards  *transform.Discards
}

// New returns a route transform for a validated config.
func New(ctx component.Context, cfg *Config) (*Router, error) {
	r := &Router{discards: transform.NewDiscards(ctx)}
	for _, rt := range cfg.Routes {
		r.routes = append(r.routes, output{name: rt.Name, cond: rt.cond, out: ctx.Outputs[rt.Name], reason: "unrouted"})
	}
	r.unmatched = output{name: Unmatched, out: ctx.Outputs[Unmatched], reason: "unmatched"}
	for _, o := range append(r.routes, r.unmatched) {
		if o.out == nil {
			return nil, fmt.Errorf("output %q has no emitter", o.name)
		}
	}
	return r, nil
}

// consumed reports whether anything reads the output now (it changes with
// reloads).
func consumed(e component.Emitter) bool {
	c, ok := e.(interface{ Consumed() bool })
	return !ok || c.Consumed()
}

// Process implements component.Transform.
func (r *Router) Process(ctx context.Context, b *event.Batch, _ component.Emitter) error {
	// One bit per event and route, and one for "matched some route". For
	// batches of up to 1024 events both bitmaps live on the stack.
	words := (len(b.Events) + 63) / 64
	var hitArr, anyArr [16]uint64
	hit, matched := hitArr[:], anyArr[:]
	if words > len(hit) {
		hit, matched = make([]uint64, words), make([]uint64, words)
	}
	hit, matched = hit[:words], matched[:words]
	errs, total := 0, 0
	for i := range r.routes {
		o := &r.routes[i]
		clear(hit)
		n := 0
		for j := range b.Events {
			ok, err := o.cond.Match(&b.Events[j])
			if err != nil {
				errs++
			}
			if ok {
				hit[j/64] |= 1 << (j % 64)
				n++
			}
		}
		if n == 0 {
			continue
		}
		for w := range hit {
			matched[w] |= hit[w]
		}
		total++
		if err := r.emit(ctx, o, b, subset(b.Events, hit, n, true)); err != nil {
			return err
		}
	}
	if errs > 0 {
		r.discards.Metrics().Errors("evaluate").Add(float64(errs))
	}
	if total == 0 {
		return r.emit(ctx, &r.unmatched, b, b.Events)
	}
	n := 0
	for j := range b.Events {
		if matched[j/64]&(1<<(j%64)) == 0 {
			n++
		}
	}
	return r.emit(ctx, &r.unmatched, b, subset(b.Events, matched, n, false))
}

// subset returns the n events whose bit is want: all itself when that is
// every event.
func subset(all []event.Event, bits []uint64, n int, want bool) []event.Event {
	if n == len(all) {
		return all
	}
	if n == 0 {
		return nil
	}
	out := make([]event.Event, 0, n)
	for j := range all {
		if (bits[j/64]&(1<<(j%64)) != 0) == want {
			out = append(out, all[j])
		}
	}
	return out
}

func (r *Router) emit(ctx context.Context, o *output, b *event.Batch, evs []event.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if !consumed(o.out) {
		r.discards.Add(o.reason, len(evs), "output", o.name)
		return nil
	}
	return transform.EmitKept(ctx, o.out, b, evs)
}
