// Package opentelemetry is the `sink "opentelemetry"` component: it sends
// events as OTLP logs to an OpenTelemetry Collector or any OTLP receiver,
// over HTTP (protobuf or JSON) or gRPC, gzip-compressed by default. The wire
// types are the OpenTelemetry project's own (go.opentelemetry.io/collector/
// pdata).
//
// Each stream (shared Meta) becomes a resource whose attributes follow the
// semantic conventions (service.name from the Nomad task or the Kubernetes
// container, host.name, k8s.*, nomad.*); each event a log record with its
// timestamp, a severity from the configured level field, the message (or a
// map of the message and the event's fields) as its body.
//
// Errors follow drover's delivery policy (docs/delivery.md): an
// unreachable receiver and every answer that is not the data's fault (HTTP
// 401, 403, 404, 429, 5xx; gRPC Unauthenticated, PermissionDenied,
// NotFound, Unavailable, ResourceExhausted, ...) are retried with backoff
// until the receiver takes the request, honouring Retry-After and gRPC
// RetryInfo; a request refused as a whole for its content (HTTP 400, 413;
// gRPC InvalidArgument) is sent again in halves to find the records at
// fault, which go to the dead-letter output. A partial success (the
// receiver took the request but rejected some records) counts that many
// events as discarded with reason "partial_success" and logs the
// receiver's message; OTLP does not say which records it rejected, so no
// dead letter can hold them.
package opentelemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/deadletter"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// Type is the component type name.
const Type = "opentelemetry"

func init() { deadletter.RegisterSink(Type, NewConfig, New) }

// ReasonPartialSuccess is the discard reason of the records a receiver
// rejected in a partial success.
const ReasonPartialSuccess = "partial_success"

// Sink sends OTLP logs. It implements component.Sink.
type Sink struct {
	cfg    *Config
	enc    *encoder
	driver *driver.Driver
	log    *slog.Logger
	now    func() time.Time
	dest   string // where requests go, for errors

	// OTLP/HTTP
	uri    string
	client *httpclient.Client
	// OTLP/gRPC
	grpc *grpcSender
}

// New builds the sink from a configuration.
func New(cctx component.Context, cfg *Config) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cctx.Log()
	s := &Sink{cfg: cfg, enc: newEncoder(cfg.Body, cfg.SeverityField), log: log, now: time.Now}
	dest := cfg.Endpoint
	switch cfg.Protocol {
	case ProtocolGRPC:
		g, err := newGRPCSender(cfg)
		if err != nil {
			return nil, err
		}
		s.grpc = g
	default:
		client, err := httpclient.New(cfg.clientOptions())
		if err != nil {
			return nil, err
		}
		s.client = client
		s.uri = strings.TrimSuffix(cfg.Endpoint, "/") + cfg.Path
		dest = httpclient.Redact(s.uri)
	}
	d, err := driver.New(driver.Options{
		Batch:       cfg.Batch,
		Request:     cfg.Request,
		Sender:      s,
		Destination: dest,
		Component:   cctx,
	})
	if err != nil {
		return nil, err
	}
	s.driver, s.dest = d, dest
	return s, nil
}

// Run delivers the batches of in; see component.Sink and driver.Run.
func (s *Sink) Run(ctx context.Context, in <-chan *event.Batch) error {
	if s.client != nil {
		defer s.client.CloseIdleConnections()
	}
	if s.grpc != nil {
		if err := s.grpc.open(); err != nil {
			return fmt.Errorf("connecting to %s: %w", s.dest, err)
		}
		defer s.grpc.close()
	}
	return s.driver.Run(ctx, in)
}

// Send sends one request; it implements driver.Sender.
func (s *Sink) Send(ctx context.Context, req *batch.Request) error {
	logs := s.enc.encode(req.Events(), pcommon.NewTimestampFromTime(s.now()))
	ereq := plogotlp.NewExportRequestFromLogs(logs)
	var (
		resp plogotlp.ExportResponse
		err  error
	)
	if s.grpc != nil {
		resp, err = s.grpc.export(ctx, ereq)
	} else {
		resp, err = s.sendHTTP(ctx, ereq, req.Len())
	}
	if err != nil {
		return fmt.Errorf("sending %d events to %s: %w", req.Len(), s.dest, err)
	}
	return partial(resp, req.Len())
}

// partial turns a partial success into the driver's result: OTLP says how
// many records were rejected and why, not which, so the request counts as
// delivered with that many events discarded (retry.UnidentifiedError).
func partial(resp plogotlp.ExportResponse, n int) error {
	ps := resp.PartialSuccess()
	rejected := int(min(max(ps.RejectedLogRecords(), 0), int64(n)))
	if rejected == 0 {
		return nil
	}
	msg := ps.ErrorMessage()
	if msg == "" {
		msg = "no reason given"
	}
	return &retry.UnidentifiedError{Refused: rejected, Reason: ReasonPartialSuccess,
		Err: fmt.Errorf("the receiver rejected %d of %d log records (partial success): %s", rejected, n, msg)}
}

// maxResponse bounds the response body read.
const maxResponse = 1 << 20

// sendHTTP posts an export request and decodes the answer. A status that
// is not 2xx comes back as an *httpclient.StatusError, which the driver
// classifies (retry.HTTPStatus).
func (s *Sink) sendHTTP(ctx context.Context, ereq plogotlp.ExportRequest, n int) (plogotlp.ExportResponse, error) {
	var (
		payload []byte
		err     error
		ctype   = "application/x-protobuf"
	)
	if s.cfg.Encoding == EncodingJSON {
		payload, err = ereq.MarshalJSON()
		ctype = "application/json"
	} else {
		payload, err = ereq.MarshalProto()
	}
	if err != nil {
		return plogotlp.ExportResponse{}, retry.Reject(retry.ReasonRejected, fmt.Errorf("encoding the export request: %w", err))
	}
	resp := plogotlp.NewExportResponse()
	err = s.client.Send(ctx, httpclient.Request{
		URL: s.uri, Body: payload, Gzip: s.cfg.Compression == CompressionGzip,
		Header: nethttp.Header{"Content-Type": {ctype}},
	}, func(hresp *nethttp.Response) error {
		if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
			return httpclient.CheckResponse(hresp, s.now())
		}
		defer hresp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponse))
		if err != nil {
			// The receiver answered 2xx: it has the records.
			s.log.Debug("reading the OTLP response body failed; the records were accepted", "error", err)
			return nil
		}
		if len(body) == 0 {
			return nil
		}
		if strings.HasPrefix(hresp.Header.Get("Content-Type"), "application/json") {
			err = resp.UnmarshalJSON(body)
		} else {
			err = resp.UnmarshalProto(body)
		}
		if err != nil {
			s.log.Debug("undecodable OTLP response body; the records were accepted", "error", err)
			resp = plogotlp.NewExportResponse()
		}
		return nil
	})
	return resp, err
}
