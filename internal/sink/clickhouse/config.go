package clickhouse

import (
	"maps"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/healthcheck"
	"github.com/drover-dev/drover/internal/template"
)

// Config is the configuration of a `sink "clickhouse"` block.
type Config struct {
	// Endpoint is the server's HTTP interface: an http:// or https:// URL,
	// optionally with a path for servers behind a proxy
	// ("https://ch.example.com:8443"). It must not carry a query string:
	// settings go into Settings.
	Endpoint string `hcl:"endpoint,required"`
	// Database is a template naming the database of the table; "" uses the
	// user's default database.
	Database string `hcl:"database"`
	// DefaultDatabase is used for an event whose Database template renders
	// empty (a referenced field is missing, null or empty).
	DefaultDatabase string `hcl:"default_database"`
	// Table is a template naming the table each event is inserted into.
	Table string `hcl:"table,required"`
	// DefaultTable is used for an event whose Table template renders empty.
	DefaultTable string `hcl:"default_table"`
	// Compression is "gzip" (default) or "none": how request bodies are
	// sent.
	Compression string `hcl:"compression" enum:"none,gzip"`
	// AsyncInsert sends async_insert=1 with wait_for_async_insert=1: the
	// server buffers small inserts and answers once they are flushed. It is
	// left out, with a warning, when the server does not know the setting.
	AsyncInsert bool `hcl:"async_insert"`
	// SkipUnknownFields sends input_format_skip_unknown_fields=1: fields
	// without a column are ignored instead of failing the insert.
	SkipUnknownFields bool `hcl:"skip_unknown_fields"`
	// DateTimeBestEffort sends date_time_input_format=best_effort, which
	// parses the RFC 3339 "timestamp" into DateTime columns.
	DateTimeBestEffort bool `hcl:"date_time_best_effort"`
	// InsertDeduplicationToken is "auto" (default: send a token when the
	// server is known to support the setting), "always" (also when the
	// server could not be asked, never to one known not to support it) or
	// "never".
	InsertDeduplicationToken string `hcl:"insert_deduplication_token" enum:"auto,always,never"`
	// Settings are further ClickHouse settings sent with every insert
	// ("insert_quorum" = "2"). Settings the sink manages are refused.
	Settings map[string]string `hcl:"settings"`
	// Headers are added to every request.
	Headers map[string]string `hcl:"headers"`
	// ConnectTimeout bounds connecting and the TLS handshake.
	ConnectTimeout time.Duration `hcl:"connect_timeout"`
	// Auth names the ClickHouse user.
	Auth *AuthConfig `hcl:"auth,block"`
	// TLS configures certificates for https.
	TLS         *httpclient.TLSConfig `hcl:"tls,block"`
	Batch       batch.Config          `hcl:"batch,block"`
	Request     driver.RequestConfig  `hcl:"request,block"`
	Healthcheck HealthcheckConfig     `hcl:"healthcheck,block"`
}

// Authentication strategies of the auth block.
const (
	// AuthBasic sends the user and password as HTTP basic authentication.
	AuthBasic = "basic"
	// AuthHeaders sends them as X-ClickHouse-User and X-ClickHouse-Key.
	AuthHeaders = "headers"
)

// AuthConfig is the `auth` block: the ClickHouse user drover inserts as.
type AuthConfig struct {
	// Strategy is "basic" (default) or "headers".
	Strategy string `hcl:"strategy" enum:"basic,headers"`
	User     string `hcl:"user,required"`
	Password string `hcl:"password"`
	// PasswordFile reads the password from a file, read again when it
	// changes (a rotated secret takes effect without a reload); strategy
	// "basic" only.
	PasswordFile string `hcl:"password_file"`
}

// SetDefaults sets the defaults of a present auth block.
func (a *AuthConfig) SetDefaults() { a.Strategy = AuthBasic }

// HealthcheckConfig is the `healthcheck` block: a query sent when the sink
// starts.
type HealthcheckConfig = healthcheck.Config

// Values of the enum options.
const (
	CompressionNone = "none"
	CompressionGzip = "gzip"

	TokenAuto   = "auto"
	TokenAlways = "always"
	TokenNever  = "never"
)

// Batch defaults: ClickHouse prefers few large inserts over many small
// ones (every insert creates a part on disk).
const (
	DefaultMaxEvents   = 10000
	DefaultMaxBytes    = config.ByteSize(10 << 20)
	DefaultConcurrency = 2
)

// NewConfig returns the defaults: gzip, synchronous inserts, deduplication
// token when supported, batches of up to 10000 events or 10 MiB or 1s, two
// requests in flight, healthcheck logged but not required.
func NewConfig() *Config {
	r := driver.DefaultRequestConfig()
	r.Concurrency = DefaultConcurrency
	return &Config{
		Compression:              CompressionGzip,
		InsertDeduplicationToken: TokenAuto,
		ConnectTimeout:           httpclient.DefaultConnectTimeout,
		Batch:                    batch.Config{MaxEvents: DefaultMaxEvents, MaxBytes: DefaultMaxBytes, Timeout: batch.DefaultTimeout},
		Request:                  r,
		Healthcheck:              HealthcheckConfig{Enabled: true},
	}
}

// managedSettings are set by the sink itself (or would break it: a fixed
// query_id or session makes concurrent inserts fail).
var managedSettings = []string{
	"query", "database", "default_format", "user", "password", "quota_key",
	"query_id", "session_id", "session_timeout", "session_check",
	"async_insert", "wait_for_async_insert", "async_insert_deduplicate",
	"insert_deduplication_token", "input_format_skip_unknown_fields", "date_time_input_format",
}

var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the configuration; errors are *config.FieldError with the
// attribute's path in the block.
func (c *Config) Validate() error {
	u, err := httpclient.ParseURL("endpoint", c.Endpoint)
	switch {
	case err != nil:
		return err
	case u.RawQuery != "" || u.ForceQuery:
		return config.Errorf("endpoint", "must not have a query string; put ClickHouse settings into `settings`")
	case u.User != nil && c.Auth != nil:
		return config.Errorf("endpoint", "has credentials and the auth block names a user; use one of them")
	}
	for _, t := range []struct{ field, tmpl, def string }{
		{"table", c.Table, c.DefaultTable},
		{"database", c.Database, c.DefaultDatabase},
	} {
		if _, err := template.Parse(t.tmpl); err != nil {
			return config.Errorf(t.field, "%v", err)
		}
		if strings.ContainsAny(t.def, "{}") {
			return config.Errorf("default_"+t.field, "is a plain name, not a template: %q", t.def)
		}
	}
	if c.Table == "" {
		return config.Errorf("table", "must not be empty")
	}
	if c.DefaultDatabase != "" && c.Database == "" {
		return config.Errorf("default_database", "is only used with a database template")
	}
	switch c.Compression {
	case CompressionNone, CompressionGzip:
	default:
		return config.Errorf("compression", `must be "none" or "gzip", got %q`, c.Compression)
	}
	switch c.InsertDeduplicationToken {
	case TokenAuto, TokenAlways, TokenNever:
	default:
		return config.Errorf("insert_deduplication_token", `must be "auto", "always" or "never", got %q`, c.InsertDeduplicationToken)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Settings)) {
		if !settingName.MatchString(name) {
			return config.Errorf("settings", "%q is not a ClickHouse setting name", name)
		}
		if slices.Contains(managedSettings, strings.ToLower(name)) {
			return config.Errorf("settings", "%q is set by drover (see the sink's own options) and cannot be configured", name)
		}
	}
	if c.Auth != nil {
		if err := c.Auth.Validate(); err != nil {
			return config.Prefix("auth", err)
		}
		for name := range c.Headers {
			switch textproto.CanonicalMIMEHeaderKey(name) {
			case "X-Clickhouse-User", "X-Clickhouse-Key":
				return config.Errorf("headers", "%q conflicts with the auth block", name)
			}
		}
	}
	if err := c.clientOptions().Validate(); err != nil {
		return err
	}
	return driver.ValidateBlocks(c.Batch, c.Request)
}

// Validate checks the auth block. Field paths are relative to it.
func (a *AuthConfig) Validate() error {
	switch a.Strategy {
	case AuthBasic, AuthHeaders:
	default:
		return config.Errorf("strategy", `must be "basic" or "headers", got %q`, a.Strategy)
	}
	if a.User == "" {
		return config.Errorf("user", "must not be empty")
	}
	if strings.ContainsAny(a.User+a.Password, "\r\n\x00") {
		return config.Errorf("password", "user and password must not contain line breaks or NUL")
	}
	if a.PasswordFile != "" && a.Strategy != AuthBasic {
		return config.Errorf("password_file", `needs strategy "basic"`)
	}
	if a.PasswordFile != "" && a.Password != "" {
		return config.Errorf("password_file", "password and password_file are exclusive")
	}
	return nil
}

// clientOptions are the HTTP client's options: the configured headers,
// with the credentials as basic authentication or as ClickHouse's headers.
func (c *Config) clientOptions() httpclient.Options {
	o := httpclient.Options{
		TLS:             c.TLS,
		Headers:         c.Headers,
		ConnectTimeout:  c.ConnectTimeout,
		MaxConnsPerHost: c.Request.Concurrency,
	}
	if a := c.Auth; a != nil {
		switch a.Strategy {
		case AuthHeaders:
			h := make(map[string]string, len(c.Headers)+2)
			for k, v := range c.Headers {
				h[k] = v
			}
			h["X-ClickHouse-User"] = a.User
			h["X-ClickHouse-Key"] = a.Password
			o.Headers = h
		default:
			o.Auth = &httpclient.AuthConfig{Strategy: httpclient.AuthBasic, User: a.User, Password: a.Password, PasswordFile: a.PasswordFile}
		}
	}
	return o
}
