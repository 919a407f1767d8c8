// Package healthcheck holds what the sinks share about the check they make
// of their destination when they start: the `healthcheck` block's enabled
// and required options, and running a required check while the sink is
// built, so that a sink whose destination refuses it is not built (drover
// does not start, a reload keeps the old configuration).
package healthcheck

import (
	"context"
	"time"

	"github.com/drover-dev/drover/internal/sink/delivery"
)

// Timeout bounds a required check made while a sink is built, for the
// sinks whose requests have no timeout that would serve.
const Timeout = 10 * time.Second

// Config is the `healthcheck` block of a sink whose check takes no options
// of its own; a sink whose check does (loki's path) embeds it.
type Config struct {
	// Enabled turns the check on (default true). A failed check is logged.
	Enabled bool `hcl:"enabled"`
	// Required makes a failed check fatal: the sink is not built, so
	// drover does not start (or a reload is refused). Otherwise a failed
	// check is logged and the sink runs, retrying as usual.
	Required bool `hcl:"required"`
}

// Require runs check when the block enables and requires it, as the last
// step of building a sink: check gets a context that ends after timeout,
// and closeIdle, when not nil, is called after it, so that the check's
// connections do not outlive it. It returns the check's error; a check
// that is not required returns nil without running.
func (c Config) Require(timeout time.Duration, check func(context.Context) error, closeIdle func()) error {
	if !c.Enabled || !c.Required {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := check(ctx)
	if closeIdle != nil {
		closeIdle()
	}
	return err
}

// Prober returns p, the sink's check, when the block enables the check,
// and nil otherwise: the driver probes a failing destination with the
// check only when it is enabled (driver.Options.Prober).
func (c Config) Prober(p delivery.Prober) delivery.Prober {
	if !c.Enabled {
		return nil
	}
	return p
}
