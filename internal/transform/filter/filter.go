// Package filter is the `transform "filter"` component: it keeps the events
// that match a condition and drops the rest, counted in
// component_discarded_events_total{reason="filtered"}. A dropped event's
// batch is acknowledged as delivered: nothing is owed for it.
//
// A condition of fields against literals is evaluated without allocating,
// and a batch whose events all pass is passed on as it is.
package filter

import (
	"context"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/expression"
	"github.com/drover-dev/drover/internal/transform"
)

// Type is the component type name.
const Type = "filter"

func init() {
	component.RegisterTransform(Type, func() *Config { return &Config{} }, nil, component.Infallible(New))
}

// Config is the configuration of a `transform "filter"` block.
type Config struct {
	// Condition is the expression (internal/expression) an event must
	// match to be kept.
	Condition string `hcl:"condition,required"`

	cond *expression.Program
}

// Validate compiles the condition.
func (c *Config) Validate() error {
	p, err := expression.CompileCondition(c.Condition)
	if err != nil {
		return config.Errorf("condition", "%v", err)
	}
	c.cond = p
	return nil
}

// Filter keeps the events that match its condition.
type Filter struct {
	cond     *expression.Program
	discards *transform.Discards
}

// New returns a filter for a validated config.
func New(ctx component.Context, cfg *Config) *Filter {
	return &Filter{cond: cfg.cond, discards: transform.NewDiscards(ctx)}
}

// Process implements component.Transform.
func (f *Filter) Process(ctx context.Context, b *event.Batch, out component.Emitter) error {
	errs := 0
	kept := transform.Keep(b.Events, func(e *event.Event) bool {
		ok, err := f.cond.Match(e)
		if err != nil {
			errs++
		}
		return ok
	})
	if errs > 0 {
		f.discards.Metrics().Errors("evaluate").Add(float64(errs))
	}
	f.discards.Add("filtered", len(b.Events)-len(kept), "condition", f.cond.String())
	return transform.EmitKept(ctx, out, b, kept)
}
