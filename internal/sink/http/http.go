// Package http is the `sink "http"` component: it sends batches of events
// as NDJSON or as a JSON array, optionally gzip-compressed, to an HTTP
// endpoint. Network errors, 408, 429 and 5xx are retried with backoff
// (honouring Retry-After); any other non-2xx status is a permanent refusal:
// the events are counted as discarded with reason "rejected", the response
// is logged once per streak, and the batches are released as Rejected.
package http

import (
	"bytes"
	"context"
	"fmt"
	"io"
	nethttp "net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/driver"
)

// Type is the component type name.
const Type = "http"

func init() {
	component.Register(component.Registration{
		Kind:      component.KindSink,
		Type:      Type,
		NewConfig: func() component.Config { return NewConfig() },
		BuildSink: func(ctx component.Context, cfg component.Config) (component.Sink, error) {
			return New(ctx, cfg.(*Config))
		},
	})
}

// Sink is an HTTP sink. It implements component.Sink and
// component.Healthchecker.
type Sink struct {
	cfg         *Config
	method      string
	uri         string
	redacted    string // uri without a password, for logs and errors
	contentType string
	gzip        bool
	client      *httpclient.Client
	driver      *driver.Driver
}

// New builds the sink from a validated configuration.
func New(cctx component.Context, cfg *Config) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := httpclient.New(cfg.clientOptions())
	if err != nil {
		return nil, err
	}
	s := &Sink{
		cfg:         cfg,
		method:      strings.ToUpper(cfg.Method),
		uri:         cfg.URI,
		redacted:    redact(cfg.URI),
		contentType: "application/x-ndjson",
		gzip:        cfg.Compression == CompressionGzip,
		client:      client,
	}
	var enc batch.Encoder = codec.Lines{Encoding: codec.JSON}
	if cfg.Encoding == EncodingJSON {
		enc = codec.Array{}
		s.contentType = "application/json"
	}
	for k, v := range cfg.Headers {
		if textproto.CanonicalMIMEHeaderKey(k) == "Content-Type" {
			s.contentType = v
		}
	}
	s.driver, err = driver.New(driver.Options{
		Batch:       cfg.Batch,
		Request:     cfg.Request,
		Encoder:     enc,
		Sender:      s,
		Destination: s.redacted,
		Logger:      cctx.Logger,
		Metrics:     cctx.Metrics,
		Health:      cctx.Health,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	return u.Redacted()
}

// Run delivers the batches of in; see component.Sink and driver.Run.
func (s *Sink) Run(ctx context.Context, in <-chan *event.Batch) error {
	defer s.client.CloseIdleConnections()
	return s.driver.Run(ctx, in)
}

var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	gzipBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// Send sends one request; it implements driver.Sender.
func (s *Sink) Send(ctx context.Context, req *batch.Request) error {
	payload := req.Body
	if s.gzip {
		buf := compress(payload)
		defer gzipBuffers.Put(buf)
		payload = buf.Bytes()
	}
	body := newBody(payload)
	hreq, err := nethttp.NewRequestWithContext(ctx, s.method, s.uri, body)
	if err != nil {
		return fmt.Errorf("sending %d events to %s: %w", req.Len(), s.redacted, err)
	}
	hreq.ContentLength = int64(len(payload))
	hreq.Header.Set("Content-Type", s.contentType)
	if s.gzip {
		hreq.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.client.Do(hreq)
	if err == nil {
		err = httpclient.CheckResponse(resp, time.Now())
	}
	// The transport may read the body until it closes it, even after Do
	// returned; the payload belongs to the request and the pool.
	<-body.closed
	if err != nil {
		return fmt.Errorf("sending %d events to %s: %w", req.Len(), s.redacted, err)
	}
	return nil
}

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

// Healthcheck sends the configured check request. It succeeds on a 2xx
// response; when it checks the sink's own uri (no healthcheck.uri), any
// status below 500 except 401, 403 and 407 also succeeds: the server is
// reachable and accepts the credentials, even if it does not serve the
// check's method. It returns nil at once when the check is disabled.
func (s *Sink) Healthcheck(ctx context.Context) error {
	hc := s.cfg.Healthcheck
	if !hc.Enabled {
		return nil
	}
	uri, dedicated := s.uri, hc.URI != ""
	if dedicated {
		uri = hc.URI
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Request.Timeout)
	defer cancel()
	hreq, err := nethttp.NewRequestWithContext(ctx, hc.Method, uri, nil)
	if err != nil {
		return fmt.Errorf("healthcheck of %s: %w", redact(uri), err)
	}
	resp, err := s.client.Do(hreq)
	if err != nil {
		return fmt.Errorf("healthcheck of %s: %w", redact(uri), err)
	}
	defer resp.Body.Close()
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	code := resp.StatusCode
	healthy := code >= 200 && code < 300
	if !dedicated && code < 500 {
		switch code {
		case nethttp.StatusUnauthorized, nethttp.StatusForbidden, nethttp.StatusProxyAuthRequired:
		default:
			healthy = true
		}
	}
	if !healthy {
		return fmt.Errorf("healthcheck of %s: %s answered %d %s", redact(uri), hc.Method, code, nethttp.StatusText(code))
	}
	return nil
}
