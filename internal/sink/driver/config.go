package driver

import (
	"errors"
	"fmt"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/sink/batch"
)

// RequestConfig is a sink's `request` block: how many requests are in
// flight and how failed ones are retried. The names follow Vector's
// `request` options without the `_secs` suffixes (durations are written as
// "30s"); note that Vector's retry_max_duration_secs is the backoff cap,
// called retry_max_backoff here.
type RequestConfig struct {
	// Concurrency is the number of requests in flight at once.
	Concurrency int `hcl:"concurrency"`
	// Timeout bounds one attempt of a request; an attempt that runs out is
	// a transient failure and is retried.
	Timeout time.Duration `hcl:"timeout"`
	// RetryInitialBackoff is the ceiling of the first retry's random delay;
	// the ceiling doubles with every further retry of the same request.
	RetryInitialBackoff time.Duration `hcl:"retry_initial_backoff"`
	// RetryMaxBackoff caps the ceiling of the retry delay.
	RetryMaxBackoff time.Duration `hcl:"retry_max_backoff"`
	// RetryMaxElapsed, when not 0, gives up on a request that has been
	// failing transiently for that long: its events are rejected with
	// reason "retries_exhausted" like events the destination refused: they
	// go to the sink's dead-letter output (and are only counted when
	// nothing consumes it), and their batches are released as Rejected, so
	// that the sources move on. 0, the default, retries until the request
	// succeeds or drover stops: a destination that is down or refuses the
	// credentials slows the sources instead of losing data, and the log
	// files stay the buffer. Set it only with a dead-letter sink, for a
	// destination that must not hold up the others.
	RetryMaxElapsed time.Duration `hcl:"retry_max_elapsed"`
	// ProbeInterval is how often, while requests fail, the sink checks
	// cheaply whether its destination answers again (its healthcheck
	// request); when it does, the retries waiting out their backoff are
	// sent at once, so that delivery resumes within about this interval
	// after an outage instead of after up to retry_max_backoff. 0 turns
	// the probe off. Sinks without a cheap check ignore it.
	ProbeInterval time.Duration `hcl:"probe_interval"`
}

// Defaults of the request block.
const (
	DefaultConcurrency         = 4
	DefaultTimeout             = 60 * time.Second
	DefaultRetryInitialBackoff = time.Second
	DefaultRetryMaxBackoff     = 30 * time.Second
	DefaultProbeInterval       = time.Second
)

// maxConcurrency keeps a typo from opening thousands of connections.
const maxConcurrency = 1024

// DefaultRequestConfig returns the defaults: 4 requests in flight, 60s per
// attempt, backoff from 1s up to 30s, retry forever, probe every second
// while failing.
func DefaultRequestConfig() RequestConfig {
	return RequestConfig{
		Concurrency:         DefaultConcurrency,
		Timeout:             DefaultTimeout,
		RetryInitialBackoff: DefaultRetryInitialBackoff,
		RetryMaxBackoff:     DefaultRetryMaxBackoff,
		ProbeInterval:       DefaultProbeInterval,
	}
}

// LocalBatchConfig and LocalRequestConfig are the fixed delivery settings
// of the sinks that write locally (file, stdout), whose configuration has
// no batch or request block: one write in flight, sent as soon as no more
// input is waiting, a failed write retried after 100ms at first and 5s at
// most.
var (
	LocalBatchConfig   = batch.Config{MaxEvents: batch.DefaultMaxEvents, MaxBytes: batch.DefaultMaxBytes, Timeout: 0}
	LocalRequestConfig = RequestConfig{
		Concurrency:         1,
		Timeout:             time.Minute,
		RetryInitialBackoff: 100 * time.Millisecond,
		RetryMaxBackoff:     5 * time.Second,
	}
)

// Validate checks the values. Field paths are relative to the block.
func (c RequestConfig) Validate() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > maxConcurrency:
		return config.Errorf("concurrency", "must be between 1 and %d, got %d", maxConcurrency, c.Concurrency)
	case c.Timeout <= 0:
		return config.Errorf("timeout", "must be positive")
	case c.RetryInitialBackoff <= 0:
		return config.Errorf("retry_initial_backoff", "must be positive")
	case c.RetryMaxBackoff < c.RetryInitialBackoff:
		return config.Errorf("retry_max_backoff", "must not be less than retry_initial_backoff (%s), got %s", c.RetryInitialBackoff, c.RetryMaxBackoff)
	case c.RetryMaxBackoff > 24*time.Hour:
		return config.Errorf("retry_max_backoff", "must be at most 24h, got %s", c.RetryMaxBackoff)
	case c.RetryMaxElapsed < 0:
		return config.Errorf("retry_max_elapsed", "must not be negative")
	case c.ProbeInterval < 0:
		return config.Errorf("probe_interval", "must not be negative")
	case c.ProbeInterval > 0 && c.ProbeInterval < 100*time.Millisecond:
		return config.Errorf("probe_interval", "must be 0 (off) or at least 100ms, got %s", c.ProbeInterval)
	}
	return nil
}

// ValidateBlocks validates a sink's `batch` and `request` blocks; an error
// names the attribute with its block ("batch.max_events").
func ValidateBlocks(b batch.Config, r RequestConfig) error {
	if err := b.Validate(); err != nil {
		return Prefix("batch", err)
	}
	if err := r.Validate(); err != nil {
		return Prefix("request", err)
	}
	return nil
}

// Prefix puts a block's name before the path of a *config.FieldError, so
// that an error from a nested block's Validate names the attribute from the
// sink's block. Other errors get the name as a prefix of their text.
func Prefix(block string, err error) error {
	var fe *config.FieldError
	if errors.As(err, &fe) {
		return &config.FieldError{Field: block + "." + fe.Field, Msg: fe.Msg}
	}
	return fmt.Errorf("%s: %w", block, err)
}
