package kafka

import (
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/drover-dev/drover/internal/backoff"
)

// retryBackoff returns the client's backoff: the wait before its tries-th
// retry of a request, as internal/backoff computes them.
func retryBackoff(initial, limit time.Duration) func(tries int) time.Duration {
	return func(tries int) time.Duration {
		b := backoff.Backoff{Initial: initial, Max: limit}
		var d time.Duration
		for range min(max(tries, 1), 64) { // the wait stops growing long before
			d = b.Next()
		}
		return d
	}
}

// compressions maps the compression option to the codec.
var compressions = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

// clientOptions turns the configuration into franz-go options, loading the
// TLS files. An error names the attribute whose file could not be used.
// The client's own retries of failed requests back off like the sink's.
func clientOptions(c *Config, log *slog.Logger) ([]kgo.Opt, error) {
	opts, err := c.Config.Options(log)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.RetryBackoffFn(retryBackoff(c.RetryInitialBackoff, c.RetryMaxBackoff)),
		// After a retriable partition error the client refreshes its
		// metadata, at most this often (franz-go's default is 5s).
		kgo.MetadataMinAge(min(max(c.RetryInitialBackoff, 100*time.Millisecond), 5*time.Second)),
		kgo.ProduceRequestTimeout(c.RequestTimeout),
		kgo.RecordDeliveryTimeout(c.DeliveryTimeout),
		kgo.MaxBufferedRecords(c.MaxBufferedRecords),
		kgo.MaxBufferedBytes(int(c.MaxBufferedBytes)),
		kgo.ProducerBatchMaxBytes(int32(c.Batch.MaxBytes)),
		kgo.ProducerLinger(c.Batch.Timeout),
		kgo.ProducerBatchCompression(compressions[c.Compression]),
	)
	switch c.Acks {
	case AcksLeader:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case AcksNone:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if !c.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return opts, nil
}
