package httpclient

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/drover-dev/drover/internal/config"
)

// Client sends a sink's requests. It is safe for concurrent use.
type Client struct {
	hc     *http.Client
	header http.Header
	host   string
	auth   *fileAuth // nil unless the credentials come from a file
}

// New builds a client from validated options, loading the TLS files. An
// error names the attribute whose file could not be used.
func New(o Options) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	tlsConf, err := BuildTLS(o.TLS)
	if err != nil {
		return nil, err
	}
	connect := o.ConnectTimeout
	if connect == 0 {
		connect = DefaultConnectTimeout
	}
	conns := max(o.MaxConnsPerHost, 1)
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   connect,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Sinks compress request bodies themselves; responses are small.
		DisableCompression: true,
	}
	header, host := o.staticHeader()
	auth, err := newFileAuth(o.Auth)
	if err != nil {
		return nil, err
	}
	return &Client{
		auth: auth,
		hc: &http.Client{
			Transport: tr,
			// A redirected POST would be replayed as a GET without its body
			// and look delivered; a redirect is an answer like any other.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		header: header,
		host:   host,
	}, nil
}

// BuildTLS builds the client TLS configuration of a tls block: TLS 1.2 or
// later, the CA file's certificates trusted besides the system's, the
// client certificate when set; a nil block gives the defaults. Errors name
// the attribute (tls.ca_file, tls.cert_file).
func BuildTLS(c *TLSConfig) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if c == nil {
		return conf, nil
	}
	conf.ServerName = c.ServerName
	conf.InsecureSkipVerify = c.InsecureSkipVerify
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, config.Errorf("tls.ca_file", "reading CA certificates: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, config.Errorf("tls.ca_file", "no PEM certificate in %s", c.CAFile)
		}
		conf.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, config.Errorf("tls.cert_file", "loading the client certificate and key: %v", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// Do sends req with the configured headers and authentication added
// (headers the request already has are kept). Credentials from a file are
// those the file holds now (see AuthConfig.TokenFile). Redirects are not
// followed.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	for k, v := range c.header {
		if _, set := req.Header[k]; !set {
			req.Header[k] = v
		}
	}
	if c.auth != nil && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", c.auth.header())
	}
	if c.host != "" {
		req.Host = c.host
	}
	return c.hc.Do(req)
}

// CloseIdleConnections closes the connections kept for reuse. Sinks call
// it when they stop.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// SnippetBytes is how much of an error response's body goes into the
// error, for the log.
const SnippetBytes = 1024

// drainBytes is how much more of a response body is read so that the
// connection can be reused.
const drainBytes = 64 << 10

// StatusError is a response whose status is not 2xx.
type StatusError struct {
	Code int
	// Body is the start of the response body (SnippetBytes at most), valid
	// UTF-8 with surrounding space trimmed.
	Body string
	// RetryAfter is the delay the server asked for with Retry-After; 0
	// when it did not.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// StatusCode returns the HTTP status.
func (e *StatusError) StatusCode() int { return e.Code }

// CheckResponse reads and closes resp's body and returns nil for a 2xx
// answer, else a *StatusError with the status, the body's first
// SnippetBytes and the Retry-After delay. What the status means for the
// events is the sink's policy (internal/sink/retry), not the client's.
func CheckResponse(resp *http.Response, now time.Time) error {
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.CopyN(io.Discard, resp.Body, drainBytes)
		return nil
	}
	err := &StatusError{Code: resp.StatusCode, Body: readSnippet(resp.Body)}
	if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
		err.RetryAfter = d
	}
	return err
}

func readSnippet(r io.Reader) string {
	buf := make([]byte, SnippetBytes)
	n, _ := io.ReadFull(r, buf)
	_, _ = io.CopyN(io.Discard, r, drainBytes)
	s := strings.ToValidUTF8(string(buf[:n]), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// maxRetryAfter bounds what ParseRetryAfter returns.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter parses a Retry-After header: a number of seconds or an
// HTTP date, relative to now, at most 24 hours either way. It reports false
// for an empty or malformed value; a date in the past gives 0 with ok.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}
