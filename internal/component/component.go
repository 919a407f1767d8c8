// Package component defines the contracts of drover's sources, transforms and
// sinks, and the registry through which each type makes itself known to the
// configuration loader.
package component

import (
	"context"
	"log/slog"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
)

// Kind is the role of a component in the topology.
type Kind string

// The three kinds of components.
const (
	KindSource    Kind = "source"
	KindTransform Kind = "transform"
	KindSink      Kind = "sink"
)

// Emitter takes the batches of a source or transform.
//
// Emit hands the batch to every downstream consumer and returns once each has
// taken it. It blocks while a consumer's queue is full: that is how a slow
// sink slows its sources. It returns ctx.Err() if ctx ends first; the batch's
// Ack then accounts the consumers that did not take it as Failed. The caller
// keeps its own hold on the batch's Ack and releases it after Emit returns.
type Emitter interface {
	Emit(ctx context.Context, b *event.Batch) error
}

// Source produces batches.
//
// Run reads and emits until ctx ends, then returns nil. An error return means
// the source stopped early; the agent logs it and calls Run again after a
// delay, so Run must be callable again after it returned.
// Every batch carries an Ack created by the source; the source moves its
// checkpoint only over batches whose Ack reported ok, as a contiguous prefix.
//
// Close is called once after Run returned. It waits until the batches the
// source emitted are acknowledged or ctx ends, persists the acknowledged
// positions and releases resources.
type Source interface {
	Run(ctx context.Context, out Emitter) error
	Close(ctx context.Context) error
}

// Transform changes, drops, joins or routes events.
//
// Process takes one batch and emits what follows from it through out (the
// transform's default output) and Context.Outputs (its named outputs), and
// returns once those Emits returned. It may be called from several
// goroutines at once (one per producer goroutine upstream). It must not
// modify the events of b (other consumers may read them): a transform that
// changes an event builds a new one, and emits a new batch with the events
// it keeps. The caller holds b.Ack until Process returns.
//
// Every event taken must be accounted for, so that acknowledgements stay
// exact:
//   - passed on: the emitted batch carries b.Ack (or an Ack that holds it,
//     see event.JoinAcks);
//   - dropped by design (filtered, throttled, sampled, a duplicate): counted
//     in component_discarded_events_total with a reason (Discarded) and not
//     emitted; its batch is acknowledged as if delivered, since nothing is
//     owed for it;
//   - held for later (a multi-line event not yet complete): the transform
//     Retains b.Ack while it holds an event of b, and emits the joined
//     event with an Ack that releases every batch it holds (event.JoinAcks),
//     so that a stop or a crash before the joined event is delivered leaves
//     every batch of it unacknowledged, read again after a restart, never
//     half shipped.
//
// State kept per stream is keyed by the event's *event.Meta: one value per
// stream (file, task stream), shared by all its events.
//
// An error return means b could not be passed on (the consumers' context
// ended): the Emit that failed already marked b.Ack failed.
type Transform interface {
	Process(ctx context.Context, b *event.Batch, out Emitter) error
}

// Flusher is implemented by transforms that hold events between batches
// (multiline). The topology runs Run in its own goroutine while the
// transform is installed, with the transform's default output, for flushes
// on a timer; when the transform stops (drover stops, or a reload replaces
// or removes it) it cancels Run's context, waits for Run to return, then
// calls Flush once: after the producers upstream stopped, before the sinks
// downstream drain. Flush emits every event still held, or, when ctx ends
// first, releases their batches as Failed so that they are read again.
type Flusher interface {
	Run(ctx context.Context, out Emitter)
	Flush(ctx context.Context, out Emitter) error
}

// Sink delivers batches to a destination.
//
// Run consumes in until it is closed, delivers every batch and releases each
// batch's Ack exactly once: Delivered when the destination has it, Rejected
// when the destination refused it permanently (counted and logged), Failed
// only when ctx ended before a verdict. Transient failures are retried until
// they succeed or ctx ends. Run returns after in is closed and every batch it
// took was released, or after ctx ended and every batch it holds was released
// as Failed.
type Sink interface {
	Run(ctx context.Context, in <-chan *event.Batch) error
}

// Healthchecker is implemented by sinks that can check their destination at
// start. The agent logs a failed check; it stops only when the sink's
// configuration asks for that.
type Healthchecker interface {
	Healthcheck(ctx context.Context) error
}

// Config is the decoded configuration block of one component. Defaults are
// filled in before decoding (see internal/config); Validate checks the values
// and returns an error naming the attribute at fault, ideally as a
// *config.FieldError.
type Config interface {
	Validate() error
}

// Context is what a component gets when it is built.
type Context struct {
	Kind Kind
	Type string
	// ID is the component's name in the configuration; unique per kind.
	ID string
	// DataDir is drover's data directory; components keep their state in
	// files named after their kind and ID below it.
	DataDir string
	// Host is this machine's host name, for the "host" field.
	Host   string
	Logger *slog.Logger
	// Metrics are the component's pre-labelled instruments.
	Metrics *metrics.Component
	// Health is where the component reports its conditions (a sink that
	// cannot deliver, a source that cannot reach its API); see
	// internal/health. It may be nil (tools, tests): a nil Reporter ignores
	// reports.
	Health *health.Reporter
	// Outputs holds an Emitter for each named output of the component
	// (Registration.Outputs), by name. Emit on an output that nothing
	// consumes returns nil at once: the events go nowhere, and the
	// component counts them as discarded with a reason of its own. The
	// Emitters of a transform's outputs also have a method Consumed() bool
	// that says whether anything reads the output now (reloads change it).
	Outputs map[string]Emitter
}

// Log returns the component's Logger, or a logger that discards when the
// context has none (tools, tests).
func (c Context) Log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
