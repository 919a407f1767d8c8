package opentelemetry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/retry"
)

// grpcSender sends export requests over OTLP/gRPC. A connection belongs to
// one run of the sink: open makes it, close releases it.
type grpcSender struct {
	target string
	dial   []grpc.DialOption
	md     metadata.MD
	opts   []grpc.CallOption

	client atomic.Pointer[grpcClient]
}

type grpcClient struct {
	conn   *grpc.ClientConn
	client plogotlp.GRPCClient
}

// newGRPCSender checks the endpoint and loads the TLS files; it does not
// connect.
func newGRPCSender(cfg *Config) (*grpcSender, error) {
	target, useTLS := cfg.Endpoint, cfg.TLS != nil
	if strings.Contains(target, "://") {
		u, err := url.Parse(target)
		if err != nil {
			return nil, fmt.Errorf("endpoint: %w", err)
		}
		target, useTLS = u.Host, useTLS || u.Scheme == "https"
	}
	creds := insecure.NewCredentials()
	if useTLS {
		conf, err := httpclient.BuildTLS(cfg.TLS)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(conf)
	}
	md := metadata.MD{}
	for k, v := range cfg.Headers {
		md.Set(strings.ToLower(k), v)
	}
	if a := cfg.Auth; a != nil {
		switch a.Strategy {
		case httpclient.AuthBasic:
			md.Set("authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(a.User+":"+a.Password)))
		case httpclient.AuthBearer:
			md.Set("authorization", "Bearer "+a.Token)
		case httpclient.AuthAPIKey:
			md.Set("authorization", "ApiKey "+a.APIKey)
		}
	}
	g := &grpcSender{target: "passthrough:///" + target, md: md, dial: []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpcConnectParams(cfg.ConnectTimeout)),
		grpc.WithUserAgent("drover"),
	}}
	// A bad target is found here rather than at the first request.
	conn, err := grpc.NewClient(g.target, g.dial...)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", cfg.Endpoint, err)
	}
	_ = conn.Close()
	if cfg.Compression == CompressionGzip {
		g.opts = append(g.opts, grpc.UseCompressor("gzip"))
	}
	return g, nil
}

func grpcConnectParams(timeout time.Duration) grpc.ConnectParams {
	p := grpc.ConnectParams{MinConnectTimeout: timeout}
	p.Backoff.BaseDelay = 100 * time.Millisecond
	p.Backoff.Multiplier = 1.6
	p.Backoff.Jitter = 0.2
	p.Backoff.MaxDelay = 5 * time.Second
	return p
}

// export sends one request. Errors are classified for the driver by the
// delivery policy (grpcClass): a request refused as a whole for its content
// (InvalidArgument) is sent again in halves to find the records at fault;
// every other code is transient, with a reason, and with the delay of a
// RetryInfo detail when the receiver sent one.
func (g *grpcSender) export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	c := g.client.Load()
	if c == nil {
		return plogotlp.ExportResponse{}, errors.New("the gRPC connection is closed")
	}
	if len(g.md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, g.md)
	}
	resp, err := c.client.Export(ctx, req, g.opts...)
	if err == nil {
		return resp, nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return resp, err
	}
	class, reason := grpcClass(st.Code())
	re := &retry.Error{Class: class, Reason: reason, Err: fmt.Errorf("gRPC %s: %s", st.Code(), st.Message())}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.RetryDelay != nil {
			re.Delay = ri.RetryDelay.AsDuration()
		}
	}
	return resp, re
}

// grpcClass is the delivery policy of a gRPC status code (docs/delivery.md):
// what is the data's fault is split, the rest retried with the cause's
// reason.
func grpcClass(code codes.Code) (retry.Class, string) {
	switch code {
	case codes.InvalidArgument:
		return retry.ClassSplit, retry.ReasonBadRequest
	case codes.Unauthenticated:
		return retry.ClassTransient, retry.ReasonUnauthorized
	case codes.PermissionDenied:
		return retry.ClassTransient, retry.ReasonForbidden
	case codes.NotFound, codes.Unimplemented:
		return retry.ClassTransient, retry.ReasonNotFound
	case codes.ResourceExhausted:
		return retry.ClassTransient, retry.ReasonThrottled
	case codes.Unavailable:
		return retry.ClassTransient, retry.ReasonUnreachable
	case codes.DeadlineExceeded:
		return retry.ClassTransient, retry.ReasonTimeout
	case codes.FailedPrecondition, codes.AlreadyExists, codes.OutOfRange, codes.Aborted:
		return retry.ClassTransient, retry.ReasonRefused
	}
	return retry.ClassTransient, retry.ReasonServerError
}

// open makes the connection of a run; it connects lazily, on the first
// request.
func (g *grpcSender) open() error {
	conn, err := grpc.NewClient(g.target, g.dial...)
	if err != nil {
		return err
	}
	g.client.Store(&grpcClient{conn: conn, client: plogotlp.NewGRPCClient(conn)})
	return nil
}

// close releases the connection of a run.
func (g *grpcSender) close() {
	if c := g.client.Swap(nil); c != nil {
		_ = c.conn.Close()
	}
}
