package clickhouse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/retry"
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
	var serr *ServerError
	var delay time.Duration
	err := s.client.Send(ctx, httpclient.Request{
		URL: s.endpoint + "?" + s.insertParams(f, t, body), Body: body, Gzip: s.gzip,
		Header: nethttp.Header{"Content-Type": {"application/x-ndjson"}},
	}, func(resp *nethttp.Response) error {
		if serr = readAnswer(resp); serr != nil {
			delay, _ = httpclient.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
			return serr
		}
		return nil
	})
	if err == nil {
		return nil
	}
	e := &InsertError{Target: t.String(), Events: n, Err: err, bodyBytes: len(body)}
	if serr == nil {
		_, e.Reason = retry.Classify(err)
		e.Class, e.Err = Transient, fmt.Errorf("%s: %w", s.redacted, err)
		return e
	}
	e.Class, e.Reason = Classify(serr)
	if e.Class == Transient {
		e.delay = delay
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
