package opentelemetry

import (
	"strings"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/driver"
)

// Config is the configuration of a `sink "opentelemetry"` block.
type Config struct {
	// Protocol is "http" (OTLP/HTTP, default) or "grpc" (OTLP/gRPC).
	Protocol string `hcl:"protocol" enum:"http,grpc"`
	// Endpoint is the receiver: with http a base URL
	// ("http://collector:4318") to which Path is appended; with grpc
	// "host:port" or an http:// or https:// URL (https means TLS).
	Endpoint string `hcl:"endpoint,required"`
	// Path is appended to an http endpoint; default "/v1/logs".
	Path string `hcl:"path"`
	// Encoding of OTLP/HTTP bodies: "protobuf" (default) or "json".
	Encoding string `hcl:"encoding" enum:"protobuf,json"`
	// Compression is "gzip" (default) or "none".
	Compression string `hcl:"compression" enum:"gzip,none"`
	// Body is "message" (default: the body is the message, the event's
	// own fields are attributes) or "fields" (the body is a map of the
	// message and the event's own fields).
	Body string `hcl:"body" enum:"message,fields"`
	// SeverityField names the event field whose value gives the severity
	// ("level" by default); "" sets none.
	SeverityField string `hcl:"severity_field"`
	// headers (gRPC: sent as metadata), connect_timeout and the auth and
	// tls blocks.
	httpclient.Settings
	Batch   batch.Config         `hcl:"batch,block"`
	Request driver.RequestConfig `hcl:"request,block"`
}

// Values of the enum options.
const (
	ProtocolHTTP = "http"
	ProtocolGRPC = "grpc"

	EncodingProtobuf = "protobuf"
	EncodingJSON     = "json"

	CompressionGzip = "gzip"
	CompressionNone = "none"

	BodyMessage = "message"
	BodyFields  = "fields"
)

// DefaultPath is OTLP/HTTP's path for logs.
const DefaultPath = "/v1/logs"

// NewConfig returns the defaults: OTLP/HTTP with protobuf and gzip, the
// message as the body, the severity from "level".
func NewConfig() *Config {
	b := batch.DefaultConfig()
	return &Config{
		Protocol:      ProtocolHTTP,
		Path:          DefaultPath,
		Encoding:      EncodingProtobuf,
		Compression:   CompressionGzip,
		Body:          BodyMessage,
		SeverityField: "level",
		Settings:      httpclient.DefaultSettings(),
		Batch:         b,
		Request:       driver.DefaultRequestConfig(),
	}
}

// Validate checks the configuration; errors are *config.FieldError with the
// attribute's path in the block.
func (c *Config) Validate() error {
	switch c.Protocol {
	case ProtocolHTTP, ProtocolGRPC:
	default:
		return config.Errorf("protocol", `must be "http" or "grpc", got %q`, c.Protocol)
	}
	if c.Endpoint == "" {
		return config.Errorf("endpoint", "must not be empty")
	}
	if c.Protocol == ProtocolHTTP || strings.Contains(c.Endpoint, "://") {
		u, err := httpclient.ParseURL("endpoint", c.Endpoint)
		switch {
		case err != nil:
			return err
		case c.Protocol == ProtocolGRPC && strings.Trim(u.Path, "/") != "":
			return config.Errorf("endpoint", "a gRPC endpoint has no path, got %q", c.Endpoint)
		}
	} else if _, port, ok := strings.Cut(c.Endpoint, ":"); !ok || port == "" {
		return config.Errorf("endpoint", "want host:port or a URL, got %q", c.Endpoint)
	}
	if c.Protocol == ProtocolHTTP && !strings.HasPrefix(c.Path, "/") {
		return config.Errorf("path", "must start with /, got %q", c.Path)
	}
	if c.Protocol == ProtocolGRPC && c.Encoding == EncodingJSON {
		return config.Errorf("encoding", `"json" is for protocol = "http"; OTLP/gRPC is protobuf`)
	}
	switch c.Encoding {
	case EncodingProtobuf, EncodingJSON:
	default:
		return config.Errorf("encoding", `must be "protobuf" or "json", got %q`, c.Encoding)
	}
	switch c.Compression {
	case CompressionGzip, CompressionNone:
	default:
		return config.Errorf("compression", `must be "gzip" or "none", got %q`, c.Compression)
	}
	switch c.Body {
	case BodyMessage, BodyFields:
	default:
		return config.Errorf("body", `must be "message" or "fields", got %q`, c.Body)
	}
	if err := c.clientOptions().Validate(); err != nil {
		return err
	}
	return driver.ValidateBlocks(c.Batch, c.Request)
}

func (c *Config) clientOptions() httpclient.Options {
	return c.Settings.Options(c.Request.Concurrency)
}
