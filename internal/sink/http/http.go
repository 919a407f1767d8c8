// Package http is the `sink "http"` component: it sends batches of events
// as NDJSON or as a JSON array, optionally gzip-compressed, to an HTTP
// endpoint. The endpoint's answers follow drover's delivery policy
// (internal/sink/retry.HTTPStatus, docs/delivery.md): network errors,
// timeouts, 401, 403, 404, 407, 408, 429, 5xx and other statuses that name
// no event are retried with backoff until they succeed (honouring
// Retry-After); 413 sends the request again in halves; a 400 or 422 is
// taken as the fault of some events: the request is sent again in halves
// until the refused events are found, which are rejected with reason
// "bad_request" and handed to the dead-letter output.
package http

import (
	"context"
	"fmt"
	"io"
	nethttp "net/http"
	"net/textproto"
	"strings"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/deadletter"
	"github.com/drover-dev/drover/internal/sink/driver"
)

// Type is the component type name.
const Type = "http"

func init() { deadletter.RegisterSink(Type, NewConfig, New) }

// Sink is an HTTP sink. It implements component.Sink and
// component.Healthchecker.
type Sink struct {
	cfg      *Config
	method   string
	uri      string
	redacted string         // uri without a password, for logs and errors
	header   nethttp.Header // Content-Type
	gzip     bool
	client   *httpclient.Client
	driver   *driver.Driver
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
		cfg:      cfg,
		method:   strings.ToUpper(cfg.Method),
		uri:      cfg.URI,
		redacted: httpclient.Redact(cfg.URI),
		gzip:     cfg.Compression == CompressionGzip,
		client:   client,
	}
	contentType := "application/x-ndjson"
	var enc batch.Encoder = codec.Lines{Encoding: codec.JSON}
	if cfg.Encoding == EncodingJSON {
		enc = codec.Array{}
		contentType = "application/json"
	}
	for k, v := range cfg.Headers {
		if textproto.CanonicalMIMEHeaderKey(k) == "Content-Type" {
			contentType = v
		}
	}
	s.header = nethttp.Header{"Content-Type": {contentType}}
	opts := driver.Options{
		Batch:       cfg.Batch,
		Request:     cfg.Request,
		Encoder:     enc,
		Sender:      s,
		Destination: s.redacted,
		Component:   cctx,
		// A quiet node's lines go out within a tenth of batch.timeout.
		SendWhenIdle: true,
		// Several requests in flight, each stream's lines in order.
		OrderByStream: true,
	}
	if cfg.Healthcheck.Enabled {
		opts.Prober = s
	}
	s.driver, err = driver.New(opts)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Run delivers the batches of in; see component.Sink and driver.Run.
func (s *Sink) Run(ctx context.Context, in <-chan *event.Batch) error {
	defer s.client.CloseIdleConnections()
	return s.driver.Run(ctx, in)
}

// Send sends one request; it implements driver.Sender. The answer is
// classified by the driver (retry.HTTPStatus).
func (s *Sink) Send(ctx context.Context, req *batch.Request) error {
	err := s.client.Send(ctx, httpclient.Request{Method: s.method, URL: s.uri, Body: req.Body, Gzip: s.gzip, Header: s.header}, nil)
	if err != nil {
		return fmt.Errorf("sending %d events to %s: %w", req.Len(), s.redacted, err)
	}
	return nil
}

// Probe sends the healthcheck request; it implements delivery.Prober.
func (s *Sink) Probe(ctx context.Context) error { return s.check(ctx) }

// Healthcheck sends the configured check request. It succeeds on a 2xx
// response; when it checks the sink's own uri (no healthcheck.uri), any
// status below 500 except 401, 403 and 407 also succeeds: the server is
// reachable and accepts the credentials, even if it does not serve the
// check's method. It returns nil at once when the check is disabled.
func (s *Sink) Healthcheck(ctx context.Context) error {
	if !s.cfg.Healthcheck.Enabled {
		return nil
	}
	return s.check(ctx)
}

// check sends the healthcheck request.
func (s *Sink) check(ctx context.Context) error {
	hc := s.cfg.Healthcheck
	uri, dedicated := s.uri, hc.URI != ""
	if dedicated {
		uri = hc.URI
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Request.Timeout)
	defer cancel()
	hreq, err := nethttp.NewRequestWithContext(ctx, hc.Method, uri, nil)
	if err != nil {
		return fmt.Errorf("healthcheck of %s: %w", httpclient.Redact(uri), err)
	}
	resp, err := s.client.Do(hreq)
	if err != nil {
		return fmt.Errorf("healthcheck of %s: %w", httpclient.Redact(uri), err)
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
		return fmt.Errorf("healthcheck of %s: %s answered %d %s", httpclient.Redact(uri), hc.Method, code, nethttp.StatusText(code))
	}
	return nil
}
