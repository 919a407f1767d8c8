// Package httpclient builds the HTTP clients of drover's HTTP-based sinks
// (http, loki, elasticsearch) from their shared options: `tls` and `auth`
// blocks, extra `headers`, a connect timeout, and the proxy named by the
// HTTP_PROXY, HTTPS_PROXY and NO_PROXY environment variables. It also
// classifies responses as delivered, transient or permanent failures for
// the sink driver.
package httpclient

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/config"
)

// TLSConfig is the `tls` block of an HTTP sink.
type TLSConfig struct {
	// CAFile is a PEM file of CA certificates trusted in addition to the
	// system's roots.
	CAFile string `hcl:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// servers that require client authentication. Both or neither.
	CertFile string `hcl:"cert_file"`
	KeyFile  string `hcl:"key_file"`
	// ServerName is the name expected in the server's certificate (and sent
	// as SNI) when it differs from the URI's host.
	ServerName string `hcl:"server_name"`
	// InsecureSkipVerify accepts any server certificate. For tests only.
	InsecureSkipVerify bool `hcl:"insecure_skip_verify"`
}

// Validate checks the block. Field paths are relative to it.
func (c *TLSConfig) Validate() error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		if c.CertFile == "" {
			return config.Errorf("cert_file", "is required when key_file is set")
		}
		return config.Errorf("key_file", "is required when cert_file is set")
	}
	return nil
}

// Authentication strategies of the auth block.
const (
	AuthBasic  = "basic"
	AuthBearer = "bearer"
	// AuthAPIKey sends "Authorization: ApiKey <api_key>", the scheme of
	// Elasticsearch and OpenSearch API keys.
	AuthAPIKey = "api_key"
)

// AuthConfig is the `auth` block of an HTTP sink.
//
// A secret can come from a file instead of the configuration (token_file,
// password_file, api_key_file): the file is read when the sink starts and
// read again when it changes (checked at most once a second, before a
// request), so that credentials rotated by rewriting the file (Vault
// agent, a Kubernetes secret, a cron job) take effect without a reload.
// Surrounding white space (the final newline) is not part of the secret.
type AuthConfig struct {
	// Strategy is "basic" (user and password), "bearer" (token) or
	// "api_key" (api_key).
	Strategy     string `hcl:"strategy,required" enum:"basic,bearer,api_key"`
	User         string `hcl:"user"`
	Password     string `hcl:"password"`
	PasswordFile string `hcl:"password_file"`
	Token        string `hcl:"token"`
	TokenFile    string `hcl:"token_file"`
	// APIKey is sent as is after "ApiKey ": for Elasticsearch, the
	// "encoded" value of a created API key (base64 of "id:key").
	APIKey     string `hcl:"api_key"`
	APIKeyFile string `hcl:"api_key_file"`
}

// Validate checks that the attributes match the strategy. Field paths are
// relative to the block.
func (c *AuthConfig) Validate() error {
	type secret struct {
		strategy, field, value, fileField, file string
	}
	secrets := []secret{
		{AuthBasic, "password", c.Password, "password_file", c.PasswordFile},
		{AuthBearer, "token", c.Token, "token_file", c.TokenFile},
		{AuthAPIKey, "api_key", c.APIKey, "api_key_file", c.APIKeyFile},
	}
	switch c.Strategy {
	case AuthBasic, AuthBearer, AuthAPIKey:
	default:
		return config.Errorf("strategy", "must be %q, %q or %q, got %q", AuthBasic, AuthBearer, AuthAPIKey, c.Strategy)
	}
	if c.Strategy == AuthBasic && c.User == "" {
		return config.Errorf("user", "is required with strategy %q", AuthBasic)
	}
	if c.Strategy != AuthBasic && c.User != "" {
		return config.Errorf("user", "user and password are only used with strategy %q", AuthBasic)
	}
	for _, sc := range secrets {
		set := sc.value != "" || sc.file != ""
		switch {
		case sc.strategy != c.Strategy && set:
			if sc.strategy == AuthBasic {
				return config.Errorf("user", "user and password are only used with strategy %q", AuthBasic)
			}
			return config.Errorf(sc.field, "%s and %s are only used with strategy %q", sc.field, sc.fileField, sc.strategy)
		case sc.strategy != c.Strategy:
		case sc.value != "" && sc.file != "":
			return config.Errorf(sc.fileField, "%s and %s are exclusive", sc.field, sc.fileField)
		case !set && sc.strategy != AuthBasic:
			return config.Errorf(sc.field, "%s or %s is required with strategy %q", sc.field, sc.fileField, sc.strategy)
		case sc.strategy != AuthBasic && strings.ContainsAny(sc.value, "\r\n\x00"):
			// It becomes a header value as it is.
			return config.Errorf(sc.field, "contains a line break or NUL")
		}
	}
	return nil
}

// fromFile reports whether the secret of the strategy comes from a file.
func (c *AuthConfig) fromFile() bool {
	return c.PasswordFile != "" || c.TokenFile != "" || c.APIKeyFile != ""
}

// DefaultConnectTimeout bounds connecting and the TLS handshake.
const DefaultConnectTimeout = 10 * time.Second

// Settings are the attributes of an HTTP sink's block that configure its
// client: headers, connect_timeout and the auth and tls blocks. A sink's
// config embeds it (internal/config flattens an embedded struct into the
// enclosing block) and builds its client from Options.
type Settings struct {
	// Headers are added to every request.
	Headers map[string]string `hcl:"headers"`
	// ConnectTimeout bounds connecting and the TLS handshake.
	ConnectTimeout time.Duration `hcl:"connect_timeout"`
	// Auth adds basic, bearer or API key authentication.
	Auth *AuthConfig `hcl:"auth,block"`
	// TLS configures certificates for https.
	TLS *TLSConfig `hcl:"tls,block"`
}

// DefaultSettings returns the defaults of Settings: DefaultConnectTimeout,
// no headers, no auth, the system's TLS roots.
func DefaultSettings() Settings { return Settings{ConnectTimeout: DefaultConnectTimeout} }

// Options returns the client options of s, keeping up to maxConns
// connections per host open for reuse (the sink's request concurrency).
func (s Settings) Options(maxConns int) Options {
	return Options{TLS: s.TLS, Auth: s.Auth, Headers: s.Headers, ConnectTimeout: s.ConnectTimeout, MaxConnsPerHost: maxConns}
}

// ParseURL parses s, the value of the attribute field, as an http:// or
// https:// URL with a host; errors are *config.FieldError naming field.
func ParseURL(field, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, config.Errorf(field, "invalid URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, config.Errorf(field, "must be an http:// or https:// URL, got %q", s)
	case u.Host == "":
		return nil, config.Errorf(field, "has no host: %q", s)
	}
	return u, nil
}

// ValidateBaseURL checks s, the value of the attribute field, as the base
// URL of an API: an http:// or https:// URL with a host, optionally a path
// prefix, without a query or fragment (the sink appends its paths).
func ValidateBaseURL(field, s string) error {
	u, err := ParseURL(field, s)
	if err != nil {
		return err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return config.Errorf(field, "must not have a query or fragment: %q", s)
	}
	return nil
}

// Redact returns uri without its password, for logs and errors; a uri that
// does not parse is returned as it is.
func Redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	return u.Redacted()
}

// Options are the client options of an HTTP sink: its Settings, or
// attributes it declares itself (clickhouse's own auth block), and the
// number of connections to keep.
type Options struct {
	TLS  *TLSConfig
	Auth *AuthConfig
	// Headers are sent with every request. "Host" sets the request's host.
	Headers map[string]string
	// ConnectTimeout bounds dialing and the TLS handshake;
	// DefaultConnectTimeout when 0.
	ConnectTimeout time.Duration
	// MaxConnsPerHost is the number of connections kept open for reuse; the
	// sink's request concurrency.
	MaxConnsPerHost int
}

// reservedHeaders are set by the client or the sink itself.
var reservedHeaders = []string{"Content-Length", "Content-Encoding", "Transfer-Encoding", "Connection"}

// Validate checks the options; errors name the attribute relative to the
// sink's block ("tls.key_file", "auth.token", "headers").
func (o Options) Validate() error {
	if o.TLS != nil {
		if err := o.TLS.Validate(); err != nil {
			return prefix("tls", err)
		}
	}
	if o.Auth != nil {
		if err := o.Auth.Validate(); err != nil {
			return prefix("auth", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(o.Headers)) {
		if !validHeaderName(name) {
			return config.Errorf("headers", "%q is not a valid header name", name)
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if slices.Contains(reservedHeaders, canon) {
			return config.Errorf("headers", "%q is set by drover and cannot be configured", name)
		}
		if canon == "Authorization" && o.Auth != nil {
			return config.Errorf("headers", "%q conflicts with the auth block", name)
		}
		if strings.ContainsAny(o.Headers[name], "\r\n\x00") {
			return config.Errorf("headers", "the value of %q contains a line break or NUL", name)
		}
	}
	if o.ConnectTimeout < 0 {
		return config.Errorf("connect_timeout", "must not be negative")
	}
	return nil
}

// prefix puts a block name before a field error's path.
func prefix(block string, err error) error {
	var fe *config.FieldError
	if errors.As(err, &fe) {
		return &config.FieldError{Field: block + "." + fe.Field, Msg: fe.Msg}
	}
	return fmt.Errorf("%s: %w", block, err)
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// staticHeader returns the headers every request carries: the configured
// ones and the auth header, and the configured Host.
func (o Options) staticHeader() (http.Header, string) {
	h := http.Header{}
	host := ""
	for name, v := range o.Headers {
		if textproto.CanonicalMIMEHeaderKey(name) == "Host" {
			host = v
			continue
		}
		h.Set(name, v)
	}
	if a := o.Auth; a != nil && !a.fromFile() {
		switch a.Strategy {
		case AuthBasic:
			r := http.Request{Header: http.Header{}}
			r.SetBasicAuth(a.User, a.Password)
			h.Set("Authorization", r.Header.Get("Authorization"))
		case AuthBearer:
			h.Set("Authorization", "Bearer "+a.Token)
		case AuthAPIKey:
			h.Set("Authorization", "ApiKey "+a.APIKey)
		}
	}
	return h, host
}
