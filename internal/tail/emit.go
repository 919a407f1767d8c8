package tail

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/event"
)

// Emitter takes batches; component.Emitter is one.
type Emitter interface {
	Emit(ctx context.Context, b *event.Batch) error
}

// Emit hands b to out and releases the caller's hold of its Ack:
// Delivered once out took the batch, Failed when Emit failed (ctx ended),
// whose error it returns. sent, if not nil, counts the events out took. A
// nil b is nothing to emit.
func Emit(ctx context.Context, out Emitter, b *event.Batch, sent prometheus.Counter) error {
	if b == nil {
		return nil
	}
	if err := out.Emit(ctx, b); err != nil {
		b.Ack.Release(event.Failed)
		return err
	}
	if sent != nil {
		sent.Add(float64(len(b.Events)))
	}
	b.Ack.Release(event.Delivered)
	return nil
}
