package checkpoint

import (
	"context"
	"fmt"
	"log/slog"
)

// Settle is how a source ends: it waits until no batch is in flight or ctx
// ends (logged as a warning with what is left: those lines are read again
// after a restart), then calls save (may be nil) to persist the positions
// the acknowledgements moved. It returns the errors of both, wrapped.
func (i *Inflight) Settle(ctx context.Context, log *slog.Logger, save func() error) []error {
	var errs []error
	if err := i.Wait(ctx); err != nil {
		log.Warn("closing with unacknowledged batches; their lines will be read again after a restart",
			"batches", i.Count())
		errs = append(errs, fmt.Errorf("waiting for acknowledgements: %w", err))
	}
	if save != nil {
		if err := save(); err != nil {
			errs = append(errs, fmt.Errorf("saving checkpoint: %w", err))
		}
	}
	return errs
}
