// Package stdout is the `sink "stdout"` component: it writes events to the
// process's standard output, one per line, as JSON objects or as bare
// messages. Each request (what arrived since the last write, up to 1000
// events or 1 MiB) is written with a single write call; its batches are
// acknowledged once that write returned. A failed write is retried with
// backoff until it succeeds: standard output refuses no event, so the
// sink's dead-letter output stays empty.
package stdout

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/deadletter"
	"github.com/drover-dev/drover/internal/sink/driver"
)

// Type is the component type name.
const Type = "stdout"

func init() {
	deadletter.RegisterSink(Type, NewConfig, func(ctx component.Context, cfg *Config) (*Sink, error) {
		return New(ctx, cfg, os.Stdout)
	})
}

// Config is the configuration of a `sink "stdout"` block.
type Config struct {
	// Encoding is "json" (one JSON object per line, default) or "text"
	// (the message only).
	Encoding string `hcl:"encoding" enum:"json,text"`
}

// NewConfig returns the defaults.
func NewConfig() *Config { return &Config{Encoding: "json"} }

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, err := codec.ParseEncoding(c.Encoding); err != nil {
		return config.Errorf("encoding", "must be \"json\" or \"text\", got %q", c.Encoding)
	}
	return nil
}

// The sink's fixed delivery settings (driver.LocalBatchConfig and
// LocalRequestConfig).
var (
	batchConfig   = driver.LocalBatchConfig
	requestConfig = driver.LocalRequestConfig
)

// Sink writes to an io.Writer, os.Stdout when built from configuration.
type Sink struct {
	w io.Writer
	d *driver.Driver
}

// New builds a sink that writes to w.
func New(cctx component.Context, cfg *Config, w io.Writer) (*Sink, error) {
	return newSink(cctx, cfg, w, requestConfig)
}

func newSink(cctx component.Context, cfg *Config, w io.Writer, req driver.RequestConfig) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	enc, _ := codec.ParseEncoding(cfg.Encoding)
	s := &Sink{w: w}
	d, err := driver.New(driver.Options{
		Batch:       batchConfig,
		Request:     req,
		Encoder:     codec.Lines{Encoding: enc},
		Sender:      s,
		Destination: "stdout",
		Component:   cctx,
	})
	if err != nil {
		return nil, err
	}
	s.d = d
	return s, nil
}

// Run delivers the batches of in; see component.Sink and driver.Run.
func (s *Sink) Run(ctx context.Context, in <-chan *event.Batch) error { return s.d.Run(ctx, in) }

// Send writes the request's lines with one write call; it implements
// driver.Sender. A write error is transient: the lines are written again
// (a write that failed half-way leaves a partial line before them). A write
// blocked by a full pipe does not end with ctx.
func (s *Sink) Send(_ context.Context, req *batch.Request) error {
	if _, err := s.w.Write(req.Body); err != nil {
		return fmt.Errorf("writing %d events to stdout: %w", req.Len(), err)
	}
	return nil
}
