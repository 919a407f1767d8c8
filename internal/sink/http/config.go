package http

import (
	"strings"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/driver"
)

// Config is the configuration of a `sink "http"` block.
type Config struct {
	// URI is where requests go: an http:// or https:// URL.
	URI string `hcl:"uri,required"`
	// Method is "POST" (default) or "PUT", in either case.
	Method string `hcl:"method"`
	// Encoding is "ndjson" (one JSON object per line, default) or "json"
	// (one JSON array per request).
	Encoding string `hcl:"encoding" enum:"ndjson,json"`
	// Compression is "none" (default) or "gzip".
	Compression string `hcl:"compression" enum:"none,gzip"`
	// headers, connect_timeout and the auth and tls blocks.
	httpclient.Settings
	Batch       batch.Config         `hcl:"batch,block"`
	Request     driver.RequestConfig `hcl:"request,block"`
	Healthcheck HealthcheckConfig    `hcl:"healthcheck,block"`
}

// HealthcheckConfig is the `healthcheck` block: a request sent when the
// sink starts, whose failure the agent reports.
type HealthcheckConfig struct {
	// Enabled turns the check on (default true).
	Enabled bool `hcl:"enabled"`
	// URI is checked instead of the sink's uri, for servers with a health
	// endpoint. A dedicated URI must answer 2xx.
	URI string `hcl:"uri"`
	// Method is "HEAD" (default), "GET" or "OPTIONS".
	Method string `hcl:"method" enum:"HEAD,GET,OPTIONS"`
}

// Values of the enum options.
const (
	EncodingNDJSON = "ndjson"
	EncodingJSON   = "json"

	CompressionNone = "none"
	CompressionGzip = "gzip"
)

// NewConfig returns the defaults: POST, NDJSON, no compression, the default
// batch and request blocks, healthcheck with HEAD on the uri.
func NewConfig() *Config {
	return &Config{
		Method:      "POST",
		Encoding:    EncodingNDJSON,
		Compression: CompressionNone,
		Settings:    httpclient.DefaultSettings(),
		Batch:       batch.DefaultConfig(),
		Request:     defaultRequest(),
		Healthcheck: HealthcheckConfig{Enabled: true, Method: "HEAD"},
	}
}

// Validate checks the configuration; errors are *config.FieldError with the
// attribute's path in the block.
func (c *Config) Validate() error {
	if err := validateURI("uri", c.URI); err != nil {
		return err
	}
	switch strings.ToUpper(c.Method) {
	case "POST", "PUT":
	default:
		return config.Errorf("method", `must be "POST" or "PUT", got %q`, c.Method)
	}
	switch c.Encoding {
	case EncodingNDJSON, EncodingJSON:
	default:
		return config.Errorf("encoding", `must be "ndjson" or "json", got %q`, c.Encoding)
	}
	switch c.Compression {
	case CompressionNone, CompressionGzip:
	default:
		return config.Errorf("compression", `must be "none" or "gzip", got %q`, c.Compression)
	}
	if err := c.clientOptions().Validate(); err != nil {
		return err
	}
	if err := driver.ValidateBlocks(c.Batch, c.Request); err != nil {
		return err
	}
	if c.Healthcheck.URI != "" {
		if err := validateURI("healthcheck.uri", c.Healthcheck.URI); err != nil {
			return err
		}
	}
	switch c.Healthcheck.Method {
	case "HEAD", "GET", "OPTIONS":
	default:
		return config.Errorf("healthcheck.method", `must be "HEAD", "GET" or "OPTIONS", got %q`, c.Healthcheck.Method)
	}
	return nil
}

func validateURI(field, s string) error {
	_, err := httpclient.ParseURL(field, s)
	return err
}

func (c *Config) clientOptions() httpclient.Options {
	return c.Settings.Options(c.Request.Concurrency)
}

// defaultRequest is the request block's default for the http sink: the
// driver's (several requests in flight). The lines of each stream still
// reach the endpoint in the order they were written: a request waits while
// another one of its streams is in flight (driver.Options.OrderByStream).
func defaultRequest() driver.RequestConfig {
	return driver.DefaultRequestConfig()
}
