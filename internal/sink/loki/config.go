package loki

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/healthcheck"
	"github.com/drover-dev/drover/internal/template"
)

// Config is the configuration of a `sink "loki"` block.
type Config struct {
	// Endpoint is Loki's base URL, http:// or https://, optionally with a
	// path prefix ("https://gateway/loki"); Path is appended to it.
	Endpoint string `hcl:"endpoint,required"`
	// Path is the push API's path.
	Path string `hcl:"path"`
	// Format is the body of a push: "protobuf" (snappy-compressed, the
	// default) or "json".
	Format string `hcl:"format" enum:"protobuf,json"`
	// Compression is "snappy" (protobuf only) or "gzip" or "none" (json
	// only); "" picks the format's default: snappy for protobuf, gzip for
	// json.
	Compression string `hcl:"compression" enum:"snappy,gzip,none"`
	// Encoding is how an event becomes its log line: "json" (the whole
	// event as a JSON object, the default) or "text" (the message alone).
	Encoding string `hcl:"encoding" enum:"json,text"`
	// Labels maps label names to templates of their values. A label whose
	// template refers to a missing field takes its LabelDefaults value, or
	// is left out when it has none.
	Labels map[string]string `hcl:"labels"`
	// LabelDefaults are the values of labels whose template refers to a
	// missing or empty field.
	LabelDefaults map[string]string `hcl:"label_defaults"`
	// AllowHighCardinalityLabels silences the warning given at start for
	// labels built from fields with a value per allocation, file or line.
	AllowHighCardinalityLabels bool `hcl:"allow_high_cardinality_labels"`
	// StructuredMetadata maps structured metadata names to templates; an
	// entry whose template refers to a missing field is left out.
	StructuredMetadata map[string]string `hcl:"structured_metadata"`
	// TenantID is a template of the X-Scope-OrgID header; "" sends none.
	TenantID string `hcl:"tenant_id"`
	// DefaultTenantID is the tenant of events for which TenantID refers to
	// a missing field; "" sends those without the header.
	DefaultTenantID string `hcl:"default_tenant_id"`
	// headers, connect_timeout and the auth and tls blocks.
	httpclient.Settings
	Batch       batch.Config         `hcl:"batch,block"`
	Request     driver.RequestConfig `hcl:"request,block"`
	Healthcheck HealthcheckConfig    `hcl:"healthcheck,block"`
}

// HealthcheckConfig is the `healthcheck` block: a GET request sent when
// the sink starts.
type HealthcheckConfig struct {
	// enabled (default true) and required.
	healthcheck.Config
	// Path is requested below the endpoint; it must answer 2xx.
	Path string `hcl:"path"`
}

// Values of the enum options.
const (
	FormatProtobuf = "protobuf"
	FormatJSON     = "json"

	CompressionSnappy = "snappy"
	CompressionGzip   = "gzip"
	CompressionNone   = "none"

	EncodingJSON = "json"
	EncodingText = "text"
)

// Defaults.
const (
	DefaultPath            = "/loki/api/v1/push"
	DefaultHealthcheckPath = "/ready"
)

// NewConfig returns the defaults: protobuf with snappy, JSON lines, no
// labels (events get agent="drover"), no tenant, the default batch block,
// one request in flight, healthcheck GET /ready that is logged when it
// fails.
func NewConfig() *Config {
	return &Config{
		Path:        DefaultPath,
		Format:      FormatProtobuf,
		Encoding:    EncodingJSON,
		Settings:    httpclient.DefaultSettings(),
		Batch:       batch.DefaultConfig(),
		Request:     defaultRequest(),
		Healthcheck: HealthcheckConfig{Config: healthcheck.Config{Enabled: true}, Path: DefaultHealthcheckPath},
	}
}

// defaultRequest is the request block's default for Loki: one request at
// a time, so that the entries of a stream arrive in order even at a Loki
// that refuses out-of-order writes.
func defaultRequest() driver.RequestConfig {
	r := driver.DefaultRequestConfig()
	r.Concurrency = 1
	return r
}

// labelName is what Loki accepts as a label or structured metadata name.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate checks the configuration; errors are *config.FieldError with the
// attribute's path in the block.
func (c *Config) Validate() error {
	if err := httpclient.ValidateBaseURL("endpoint", c.Endpoint); err != nil {
		return err
	}
	if !strings.HasPrefix(c.Path, "/") {
		return config.Errorf("path", "must start with /, got %q", c.Path)
	}
	switch c.Format {
	case FormatProtobuf:
		if c.Compression != "" && c.Compression != CompressionSnappy {
			return config.Errorf("compression", `must be "snappy" with format "protobuf", got %q`, c.Compression)
		}
	case FormatJSON:
		if c.Compression == CompressionSnappy {
			return config.Errorf("compression", `must be "gzip" or "none" with format "json", got %q`, c.Compression)
		}
	default:
		return config.Errorf("format", `must be "protobuf" or "json", got %q`, c.Format)
	}
	switch c.Compression {
	case "", CompressionSnappy, CompressionGzip, CompressionNone:
	default:
		return config.Errorf("compression", `must be "snappy", "gzip" or "none", got %q`, c.Compression)
	}
	switch c.Encoding {
	case EncodingJSON, EncodingText:
	default:
		return config.Errorf("encoding", `must be "json" or "text", got %q`, c.Encoding)
	}
	if err := validateTemplates("labels", c.Labels); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(c.LabelDefaults)) {
		if _, ok := c.Labels[name]; !ok {
			return config.Errorf("label_defaults", "%q is not a label of the labels attribute", name)
		}
	}
	if err := validateTemplates("structured_metadata", c.StructuredMetadata); err != nil {
		return err
	}
	if _, err := template.Parse(c.TenantID); err != nil {
		return config.Errorf("tenant_id", "%v", err)
	}
	if strings.ContainsFunc(c.TenantID+c.DefaultTenantID, isControl) {
		return config.Errorf("tenant_id", "tenant_id and default_tenant_id must not contain control characters")
	}
	for k := range c.Headers {
		if strings.EqualFold(k, tenantHeader) && (c.TenantID != "" || c.DefaultTenantID != "") {
			return config.Errorf("headers", "%q conflicts with tenant_id and default_tenant_id", k)
		}
	}
	if c.Auth != nil && c.Auth.Strategy == httpclient.AuthAPIKey {
		return config.Errorf("auth.strategy", `Loki takes "basic" or "bearer" authentication, not %q`, c.Auth.Strategy)
	}
	if err := c.clientOptions().Validate(); err != nil {
		return err
	}
	if err := driver.ValidateBlocks(c.Batch, c.Request); err != nil {
		return err
	}
	if c.Healthcheck.Enabled && !strings.HasPrefix(c.Healthcheck.Path, "/") {
		return config.Errorf("healthcheck.path", "must start with /, got %q", c.Healthcheck.Path)
	}
	if c.Healthcheck.Required && !c.Healthcheck.Enabled {
		return config.Errorf("healthcheck.required", "needs the check enabled")
	}
	return nil
}

// validateTemplates checks a map of label names to templates.
func validateTemplates(field string, m map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if !labelName.MatchString(name) {
			return config.Errorf(field, "%q is not a valid name (letters, digits and _, not starting with a digit)", name)
		}
		if _, err := template.Parse(m[name]); err != nil {
			return config.Errorf(field, "%s: %v", name, err)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// compression returns the effective compression.
func (c *Config) compression() string {
	if c.Compression != "" {
		return c.Compression
	}
	if c.Format == FormatJSON {
		return CompressionGzip
	}
	return CompressionSnappy
}

func (c *Config) clientOptions() httpclient.Options {
	return c.Settings.Options(c.Request.Concurrency)
}

// joinURL appends path to the endpoint, without doubling the slash.
func joinURL(endpoint, path string) string {
	return strings.TrimSuffix(endpoint, "/") + path
}
