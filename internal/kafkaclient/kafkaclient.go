// Package kafkaclient is the Kafka connection configuration shared by the
// kafka sink and the kafka source: the bootstrap brokers, the client id,
// the dial timeout, SASL and TLS, and the franz-go options they make.
//
// A component embeds Config in its own configuration struct (without an hcl
// tag, so that its attributes and blocks belong to the component's block),
// calls Validate from its own Validate, and passes Options to
// kgo.NewClient together with the options of its role (producing or
// consuming).
package kafkaclient

import (
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/httpclient"
)

// Config is how a component reaches a Kafka cluster.
type Config struct {
	// Brokers are the bootstrap brokers, "host:port" (port 9092 when
	// left out).
	Brokers []string `hcl:"brokers,required"`
	// ClientID identifies drover to the brokers.
	ClientID string `hcl:"client_id"`
	// ConnectTimeout bounds dialing a broker and the TLS handshake.
	ConnectTimeout time.Duration         `hcl:"connect_timeout"`
	SASL           *SASLConfig           `hcl:"sasl,block"`
	TLS            *httpclient.TLSConfig `hcl:"tls,block"`
}

// SASLConfig is the `sasl` block.
type SASLConfig struct {
	// Mechanism is "plain", "scram-sha-256" or "scram-sha-512".
	Mechanism string `hcl:"mechanism,required" enum:"plain,scram-sha-256,scram-sha-512"`
	Username  string `hcl:"username,required"`
	Password  string `hcl:"password"`
}

// SASL mechanisms.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// Defaults.
const (
	DefaultClientID       = "drover"
	DefaultConnectTimeout = 10 * time.Second
)

// Defaults returns the defaults: client id "drover", a 10s connect timeout,
// no brokers, no SASL, no TLS.
func Defaults() Config {
	return Config{ClientID: DefaultClientID, ConnectTimeout: DefaultConnectTimeout}
}

// Validate checks the configuration; errors are *config.FieldError with the
// attribute's path in the component's block.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return config.Errorf("brokers", "must name at least one broker")
	}
	for _, b := range c.Brokers {
		if err := validBroker(b); err != "" {
			return config.Errorf("brokers", "%q: %s", b, err)
		}
	}
	switch {
	case c.ClientID == "":
		return config.Errorf("client_id", "must not be empty")
	case c.ConnectTimeout <= 0:
		return config.Errorf("connect_timeout", "must be positive")
	}
	if s := c.SASL; s != nil {
		switch s.Mechanism {
		case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		default:
			return config.Errorf("sasl.mechanism", `must be "plain", "scram-sha-256" or "scram-sha-512", got %q`, s.Mechanism)
		}
		if s.Username == "" {
			return config.Errorf("sasl.username", "must not be empty")
		}
	}
	if c.TLS != nil {
		if err := c.TLS.Validate(); err != nil {
			return config.Prefix("tls", err)
		}
	}
	return nil
}

// validBroker checks a "host:port" or "host" address.
func validBroker(b string) string {
	if b == "" || strings.ContainsAny(b, " /") {
		return "want host:port"
	}
	if strings.Contains(b, ":") && !strings.HasSuffix(b, "]") {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			return "want host:port"
		}
	}
	return ""
}

// ValidTopic reports whether s is a legal Kafka topic name: letters,
// digits, '.', '_' and '-', at most 249 bytes, not "." or "..".
func ValidTopic(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Options returns the franz-go options of the connection: seed brokers,
// client id, dial timeout, SASL and TLS (loading the TLS files; an error
// names the attribute whose file could not be used), client metrics pushed
// to the brokers turned off (drover's own metrics cover the component and
// pushing them would only delay shutdown), and franz-go's warnings and
// errors passed to log at debug level (the component logs what matters to
// the user itself, once per streak).
func (c *Config) Options(log *slog.Logger) ([]kgo.Opt, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.DialTimeout(c.ConnectTimeout),
		kgo.DisableClientMetrics(),
		kgo.WithLogger(logger{log}),
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

// logger passes franz-go's warnings and errors to a component's logger, at
// debug level.
type logger struct{ log *slog.Logger }

// Level returns the most verbose level passed on.
func (l logger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

// Log writes one franz-go message.
func (l logger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l.log.Debug("kafka client: "+msg, append(keyvals, "kafka_level", level.String())...)
}
