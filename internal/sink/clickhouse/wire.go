package clickhouse

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/drover-dev/drover/internal/httpclient"
)

// Values of the settings the sink sends.
const (
	formatClause = " FORMAT JSONEachRow"
	tokenPrefix  = "drover-"
)

// maxErrorBody is how much of an answer is read and kept; up to
// maxDrainBody more is read and dropped so that the connection can be
// reused.
const (
	maxErrorBody = 64 << 10
	maxDrainBody = 1 << 20
)

// insert sends one INSERT of body (n JSONEachRow lines) into t. It returns
// nil when the server accepted it.
func (s *Sink) insert(ctx context.Context, f features, t target, body []byte, n int) *InsertError {
	ierr := func(class Class, err error) *InsertError {
		return &InsertError{Target: t.String(), Events: n, Class: class, Err: err, bodyBytes: len(body)}
	}
	params := s.insertParams(f, t, body)
	payload := body
	if s.gzip {
		buf := compress(body)
		defer gzipBuffers.Put(buf)
		payload = buf.Bytes()
	}
	rb := newBody(payload)
	hreq, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodPost, s.endpoint+"?"+params, rb)
	if err != nil {
		return ierr(Permanent, err)
	}
	hreq.ContentLength = int64(len(payload))
	hreq.Header.Set("Content-Type", "application/x-ndjson")
	if s.gzip {
		hreq.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.client.Do(hreq)
	if err != nil {
		// The transport may read the body until it closes it; the payload
		// belongs to a pool.
		<-rb.closed
		return ierr(Transient, fmt.Errorf("%s: %w", s.redacted, err))
	}
	serr := readAnswer(resp)
	<-rb.closed
	if serr == nil {
		return nil
	}
	e := ierr(Classify(serr), serr)
	if e.Class == Transient {
		if d, ok := httpclient.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			e.delay = d
		}
	}
	return e
}

// readAnswer reads and closes resp's body; it returns nil for a 200
// answer without an exception code, else the parsed error.
func readAnswer(resp *nethttp.Response) *ServerError {
	defer resp.Body.Close()
	defer func() { _, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBody)) }()
	if resp.StatusCode == nethttp.StatusOK && resp.Header.Get(ExceptionCodeHeader) == "" {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return ParseError(resp.StatusCode, resp.Header, body)
}

// insertParams returns the URL parameters of an INSERT of body into t.
func (s *Sink) insertParams(f features, t target, body []byte) string {
	var b strings.Builder
	b.WriteString("query=")
	b.WriteString(url.QueryEscape("INSERT INTO " + t.String() + formatClause))
	add := func(name, value string) {
		b.WriteByte('&')
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(value))
	}
	async := s.useAsync(f)
	if async {
		add(settingAsyncInsert, "1")
		add(settingWaitAsyncInsert, "1")
	}
	if s.useToken(f) {
		add(settingDeduplicationToken, dedupToken(t, body))
		if async && f.has(settingAsyncInsertDedup) {
			add(settingAsyncInsertDedup, "1")
		}
	}
	b.WriteString(s.staticParams)
	return b.String()
}

// useAsync reports whether inserts carry async_insert: when configured,
// unless the server is known not to support it.
func (s *Sink) useAsync(f features) bool {
	return s.cfg.AsyncInsert && (!f.known || f.has(settingAsyncInsert))
}

// useToken reports whether inserts carry insert_deduplication_token:
// "auto" when the server is known to support it, "always" unless the server
// is known not to (a setting it does not know fails every insert).
func (s *Sink) useToken(f features) bool {
	switch s.cfg.InsertDeduplicationToken {
	case TokenAlways:
		return !f.known || f.has(settingDeduplicationToken)
	case TokenAuto:
		return f.known && f.has(settingDeduplicationToken)
	}
	return false
}

// staticParams encodes the settings every insert carries, after the
// version-dependent ones.
func staticParams(c *Config) string {
	v := url.Values{}
	if c.SkipUnknownFields {
		v.Set("input_format_skip_unknown_fields", "1")
	}
	if c.DateTimeBestEffort {
		v.Set("date_time_input_format", "best_effort")
	}
	for k, val := range c.Settings {
		v.Set(k, val)
	}
	if len(v) == 0 {
		return ""
	}
	return "&" + v.Encode()
}

// dedupToken identifies an insert by its content: the target and the
// encoded events. A retry of the same insert carries the same token, so a
// replicated table that stored the first attempt (whose answer was lost)
// does not store the retry; different data gets a different token.
func dedupToken(t target, body []byte) string {
	h := sha256.New()
	h.Write([]byte(t.database))
	h.Write([]byte{0})
	h.Write([]byte(t.table))
	h.Write([]byte{0})
	h.Write(body)
	var sum [sha256.Size]byte
	return tokenPrefix + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// query runs a statement that returns a small result and returns it.
func (s *Sink) query(ctx context.Context, q string) (string, error) {
	hreq, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodPost, s.endpoint, strings.NewReader(q))
	if err != nil {
		return "", err
	}
	hreq.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := s.client.Do(hreq)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.redacted, err)
	}
	if resp.StatusCode != nethttp.StatusOK || resp.Header.Get(ExceptionCodeHeader) != "" {
		return "", readAnswer(resp)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return "", fmt.Errorf("%s: reading the answer: %w", s.redacted, err)
	}
	return string(out), nil
}

var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	gzipBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// compress gzips p into a pooled buffer, which the caller puts back into
// gzipBuffers when it is done with it.
func compress(p []byte) *bytes.Buffer {
	buf := gzipBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(buf)
	_, _ = zw.Write(p) // writing to a bytes.Buffer does not fail
	_ = zw.Close()
	gzipWriters.Put(zw)
	return buf
}

// body is a request body that reports when the transport closed it.
type body struct {
	bytes.Reader
	once   sync.Once
	closed chan struct{}
}

func newBody(p []byte) *body {
	b := &body{closed: make(chan struct{})}
	b.Reset(p)
	return b
}

// Close records that the transport is done with the body.
func (b *body) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}
