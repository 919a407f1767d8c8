package kafka

import (
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/httpclient"
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
	opts := []kgo.Opt{
		kgo.RetryBackoffFn(retryBackoff(c.RetryInitialBackoff, c.RetryMaxBackoff)),
		// After a retriable partition error the client refreshes its
		// metadata, at most this often (franz-go's default is 5s).
		kgo.MetadataMinAge(min(max(c.RetryInitialBackoff, 100*time.Millisecond), 5*time.Second)),
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.DialTimeout(c.ConnectTimeout),
		kgo.ProduceRequestTimeout(c.RequestTimeout),
		kgo.RecordDeliveryTimeout(c.DeliveryTimeout),
		kgo.MaxBufferedRecords(c.MaxBufferedRecords),
		kgo.MaxBufferedBytes(int(c.MaxBufferedBytes)),
		kgo.ProducerBatchMaxBytes(int32(c.Batch.MaxBytes)),
		kgo.ProducerLinger(c.Batch.Timeout),
		kgo.ProducerBatchCompression(compressions[c.Compression]),
		// drover's own metrics cover the sink; pushing client metrics to
		// the brokers would only delay shutdown.
		kgo.DisableClientMetrics(),
		kgo.WithLogger(logger{log}),
	}
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
	if s := c.SASL; s != nil {
		opts = append(opts, kgo.SASL(mechanism(s)))
	}
	if c.TLS != nil {
		conf, err := httpclient.BuildTLS(c.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(conf))
	}
	return opts, nil
}

func mechanism(s *SASLConfig) sasl.Mechanism {
	switch s.Mechanism {
	case SASLScramSHA256:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()
	case SASLScramSHA512:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()
	}
	return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()
}

// logger passes franz-go's warnings and errors to the sink's logger, at
// debug level: the sink logs what matters to the user itself, once per
// streak.
type logger struct{ log *slog.Logger }

// Level returns the most verbose level passed on.
func (l logger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

// Log writes one franz-go message.
func (l logger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l.log.Debug("kafka client: "+msg, append(keyvals, "kafka_level", level.String())...)
}
