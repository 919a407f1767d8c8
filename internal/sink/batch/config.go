// Package batch groups the events of source batches into sink requests and
// accounts every event's verdict back to the Ack of the source batch it came
// from.
//
// A source batch may be split across several requests and a request may
// hold events of several source batches. Track starts the accounting of a
// source batch; every event then gets exactly one verdict through
// Request.Finish, Request.Resolve or Ticket.Done, and the batch's Ack is
// released once, when its last event has one: Failed if any event failed,
// else Rejected if any was rejected, else Delivered.
package batch

import (
	"time"

	"github.com/drover-dev/drover/internal/config"
)

// Config is a sink's `batch` block: when a request is full and how long a
// partly filled one waits for more events.
type Config struct {
	// MaxEvents is the largest number of events in one request.
	MaxEvents int `hcl:"max_events"`
	// MaxBytes bounds the encoded size of the events in one request (the
	// framing, such as the brackets of a JSON array, adds a few bytes). An
	// event larger than MaxBytes is sent alone.
	MaxBytes config.ByteSize `hcl:"max_bytes"`
	// Timeout is how long a request that is not full waits for more events
	// after its first one. 0 sends as soon as no more input is waiting.
	Timeout time.Duration `hcl:"timeout"`
}

// Default limits of a batch block.
const (
	DefaultMaxEvents = 1000
	DefaultMaxBytes  = config.ByteSize(1 << 20)
	DefaultTimeout   = time.Second
)

// DefaultConfig returns the default batch block: 1000 events, 1 MiB, 1s.
func DefaultConfig() Config {
	return Config{MaxEvents: DefaultMaxEvents, MaxBytes: DefaultMaxBytes, Timeout: DefaultTimeout}
}

// maxRequestBytes keeps a typo ("10GiB") from making drover buffer
// gigabytes per request.
const maxRequestBytes = config.ByteSize(256 << 20)

// Validate checks the limits. Field paths are relative to the block.
func (c Config) Validate() error {
	if c.MaxEvents < 1 {
		return config.Errorf("max_events", "must be at least 1, got %d", c.MaxEvents)
	}
	if c.MaxBytes < 1 {
		return config.Errorf("max_bytes", "must be at least 1 byte, got %d", c.MaxBytes)
	}
	if c.MaxBytes > maxRequestBytes {
		return config.Errorf("max_bytes", "must be at most %s, got %s", maxRequestBytes, c.MaxBytes)
	}
	if c.Timeout < 0 {
		return config.Errorf("timeout", "must not be negative")
	}
	return nil
}
