package kafka

import (
	"maps"
	"slices"
	"time"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/kafkaclient"
	"github.com/drover-dev/drover/internal/sink/healthcheck"
	"github.com/drover-dev/drover/internal/template"
)

// Config is the configuration of a `sink "kafka"` block.
type Config struct {
	// Config is the connection: brokers, client_id, connect_timeout,
	// sasl and tls, shared with the kafka source.
	kafkaclient.Config
	// Topic is a template naming each event's topic:
	// "logs-{{ nomad.namespace }}".
	Topic string `hcl:"topic,required"`
	// DefaultTopic is used for an event whose Topic template renders empty.
	DefaultTopic string `hcl:"default_topic"`
	// Key is a template for the record key ("{{ nomad.alloc_id }}"), which
	// picks the partition: records with the same key stay in order. ""
	// produces records without a key.
	Key string `hcl:"key"`
	// Headers are record headers: name to value template.
	Headers map[string]string `hcl:"headers"`
	// Encoding is "json" (the event as a JSON object, default) or "text"
	// (the message only).
	Encoding string `hcl:"encoding" enum:"json,text"`
	// Compression is the codec of record batches.
	Compression string `hcl:"compression" enum:"none,gzip,snappy,lz4,zstd"`
	// Acks is "all" (default: every in-sync replica has the record),
	// "leader" or "none".
	Acks string `hcl:"acks" enum:"all,leader,none"`
	// Idempotent makes the broker drop duplicates of records the producer
	// sent again (default true; needs acks = "all").
	Idempotent bool `hcl:"idempotent"`
	// DeliveryTimeout bounds how long the Kafka client retries a record on
	// its own; after it the sink backs off and produces the record again.
	DeliveryTimeout time.Duration `hcl:"delivery_timeout"`
	// RequestTimeout is how long a broker may take to answer a produce
	// request.
	RequestTimeout time.Duration `hcl:"request_timeout"`
	// MaxBufferedRecords and MaxBufferedBytes bound the records waiting
	// in the client; a full client stops the sink from taking input.
	MaxBufferedRecords int             `hcl:"max_buffered_records"`
	MaxBufferedBytes   config.ByteSize `hcl:"max_buffered_bytes"`
	// RetryInitialBackoff and RetryMaxBackoff bound the delays of
	// retries: the client's retries of failed requests, and the sink's
	// before it produces records again whose delivery timed out.
	RetryInitialBackoff time.Duration     `hcl:"retry_initial_backoff"`
	RetryMaxBackoff     time.Duration     `hcl:"retry_max_backoff"`
	Batch               BatchConfig       `hcl:"batch,block"`
	Healthcheck         HealthcheckConfig `hcl:"healthcheck,block"`
}

// BatchConfig is the `batch` block: how the client groups records per
// partition.
type BatchConfig struct {
	// MaxBytes bounds a record batch before compression; it must not
	// exceed the topic's max.message.bytes. A larger record is refused.
	MaxBytes config.ByteSize `hcl:"max_bytes"`
	// Timeout is how long a partition's batch waits for more records
	// (linger).
	Timeout time.Duration `hcl:"timeout"`
}

// SASLConfig is the `sasl` block.
type SASLConfig = kafkaclient.SASLConfig

// HealthcheckConfig is the `healthcheck` block: a metadata request sent
// when the sink starts.
type HealthcheckConfig = healthcheck.Config

// Values of the enum options.
const (
	AcksAll    = "all"
	AcksLeader = "leader"
	AcksNone   = "none"

	SASLPlain       = kafkaclient.SASLPlain
	SASLScramSHA256 = kafkaclient.SASLScramSHA256
	SASLScramSHA512 = kafkaclient.SASLScramSHA512
)

// Defaults.
const (
	DefaultClientID            = kafkaclient.DefaultClientID
	DefaultDeliveryTimeout     = 30 * time.Second
	DefaultRequestTimeout      = 10 * time.Second
	DefaultConnectTimeout      = kafkaclient.DefaultConnectTimeout
	DefaultMaxBufferedRecords  = 10000
	DefaultMaxBufferedBytes    = config.ByteSize(64 << 20)
	DefaultRetryInitialBackoff = 250 * time.Millisecond
	DefaultRetryMaxBackoff     = 10 * time.Second
	// DefaultBatchMaxBytes is Kafka's default max.message.bytes.
	DefaultBatchMaxBytes = config.ByteSize(1000012)
	DefaultBatchTimeout  = 10 * time.Millisecond
)

// NewConfig returns the defaults: JSON, no compression, acks from all
// in-sync replicas, idempotent, healthcheck logged but not required.
func NewConfig() *Config {
	return &Config{
		Config:              kafkaclient.Defaults(),
		Encoding:            "json",
		Compression:         "none",
		Acks:                AcksAll,
		Idempotent:          true,
		DeliveryTimeout:     DefaultDeliveryTimeout,
		RequestTimeout:      DefaultRequestTimeout,
		MaxBufferedRecords:  DefaultMaxBufferedRecords,
		MaxBufferedBytes:    DefaultMaxBufferedBytes,
		RetryInitialBackoff: DefaultRetryInitialBackoff,
		RetryMaxBackoff:     DefaultRetryMaxBackoff,
		Batch:               BatchConfig{MaxBytes: DefaultBatchMaxBytes, Timeout: DefaultBatchTimeout},
		Healthcheck:         HealthcheckConfig{Enabled: true},
	}
}

// Validate checks the configuration; errors are *config.FieldError with the
// attribute's path in the block.
func (c *Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.Topic == "" {
		return config.Errorf("topic", "must not be empty")
	}
	t, err := template.Parse(c.Topic)
	if err != nil {
		return config.Errorf("topic", "%v", err)
	}
	if t.IsConstant() && !kafkaclient.ValidTopic(c.Topic) {
		return config.Errorf("topic", "%q is not a valid Kafka topic name (letters, digits, '.', '_', '-'; at most 249)", c.Topic)
	}
	if c.DefaultTopic != "" && !kafkaclient.ValidTopic(c.DefaultTopic) {
		return config.Errorf("default_topic", "%q is not a valid Kafka topic name (letters, digits, '.', '_', '-'; at most 249)", c.DefaultTopic)
	}
	if _, err := template.Parse(c.Key); err != nil {
		return config.Errorf("key", "%v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		if name == "" {
			return config.Errorf("headers", "a header name must not be empty")
		}
		if _, err := template.Parse(c.Headers[name]); err != nil {
			return config.Errorf("headers", "%q: %v", name, err)
		}
	}
	if _, err := codec.ParseEncoding(c.Encoding); err != nil {
		return config.Errorf("encoding", `must be "json" or "text", got %q`, c.Encoding)
	}
	if _, ok := compressions[c.Compression]; !ok {
		return config.Errorf("compression", `must be "none", "gzip", "snappy", "lz4" or "zstd", got %q`, c.Compression)
	}
	switch c.Acks {
	case AcksAll:
	case AcksLeader, AcksNone:
		if c.Idempotent {
			return config.Errorf("acks", "%q needs idempotent = false: idempotent producing needs acks from all in-sync replicas", c.Acks)
		}
	default:
		return config.Errorf("acks", `must be "all", "leader" or "none", got %q`, c.Acks)
	}
	switch {
	case c.DeliveryTimeout < time.Second:
		return config.Errorf("delivery_timeout", "must be at least 1s, got %s", c.DeliveryTimeout)
	case c.RequestTimeout <= 0:
		return config.Errorf("request_timeout", "must be positive")
	case c.MaxBufferedRecords < 1:
		return config.Errorf("max_buffered_records", "must be at least 1, got %d", c.MaxBufferedRecords)
	case c.MaxBufferedBytes < c.Batch.MaxBytes:
		return config.Errorf("max_buffered_bytes", "must not be less than batch.max_bytes (%s), got %s", c.Batch.MaxBytes, c.MaxBufferedBytes)
	case c.RetryInitialBackoff <= 0:
		return config.Errorf("retry_initial_backoff", "must be positive")
	case c.RetryMaxBackoff < c.RetryInitialBackoff:
		return config.Errorf("retry_max_backoff", "must not be less than retry_initial_backoff (%s), got %s", c.RetryInitialBackoff, c.RetryMaxBackoff)
	case c.Batch.MaxBytes < 512 || c.Batch.MaxBytes > 1<<30:
		return config.Errorf("batch.max_bytes", "must be between 512B and 1GiB, got %s", c.Batch.MaxBytes)
	case c.Batch.Timeout < 0:
		return config.Errorf("batch.timeout", "must not be negative")
	}
	return nil
}
