package opentelemetry

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// collector is the OpenTelemetry Collector's own OTLP receiver, run in the
// test process on loopback ports for gRPC and HTTP, whose consumer keeps
// what it gets, or refuses it: transiently (the receiver answers 503 /
// Unavailable) or permanently (400 / InvalidArgument).
type collector struct {
	httpAddr, grpcAddr string

	mu   sync.Mutex
	mode sinktest.Mode
	logs []plog.Logs
	msgs []string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{httpAddr: freeAddr(t), grpcAddr: freeAddr(t)}
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = c.grpcAddr
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = c.httpAddr
	next, err := consumer.NewLogs(c.consume)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.CreateLogs(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Errorf("shutting the receiver down: %v", err)
		}
	})
	return c
}

func (c *collector) consume(_ context.Context, ld plog.Logs) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// What a pipeline answers to data it cannot take: a permanent error,
	// which the receiver sends as 400 / InvalidArgument.
	refuse := func(msg string) error {
		return consumererror.NewPermanent(status.Error(codes.InvalidArgument, msg))
	}
	switch c.mode {
	case sinktest.FailTransient:
		return errors.New("test: the pipeline is full")
	case sinktest.Unauthorized:
		return status.Error(codes.Unauthenticated, "test: unknown credentials")
	case sinktest.Refuse:
		return refuse("test: refused")
	case sinktest.TooLarge:
		// OTLP has no "too large" answer of the consumer's: a request of
		// more than two records is refused as invalid, which the sink
		// resolves the same way, in halves.
		if ld.LogRecordCount() > 2 {
			return refuse("test: too many records")
		}
	case sinktest.RefusePoison:
		for _, m := range bodies(ld) {
			if strings.Contains(m, sinktest.Poison) {
				return refuse("test: poison")
			}
		}
	}
	c.logs = append(c.logs, ld)
	c.msgs = append(c.msgs, bodies(ld)...)
	return nil
}

// bodies returns the bodies of ld's records as strings, in order.
func bodies(ld plog.Logs) []string {
	var out []string
	for i := range ld.ResourceLogs().Len() {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			for k := range lrs.Len() {
				out = append(out, lrs.At(k).Body().AsString())
			}
		}
	}
	return out
}

// SetMode implements sinktest.Destination.
func (c *collector) SetMode(m sinktest.Mode) { c.mu.Lock(); c.mode = m; c.mu.Unlock() }

// Received implements sinktest.Destination.
func (c *collector) Received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

func (c *collector) received() []plog.Logs {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]plog.Logs(nil), c.logs...)
}

// testConfig sends to c with protocol, small batches and quick retries.
func testConfig(c *collector, protocol string) *Config {
	cfg := NewConfig()
	cfg.Protocol = protocol
	cfg.Endpoint = "http://" + c.httpAddr
	if protocol == ProtocolGRPC {
		cfg.Endpoint = c.grpcAddr
	}
	cfg.Batch.MaxEvents = 3
	cfg.Batch.Timeout = time.Millisecond
	cfg.Request.Concurrency = 1
	cfg.Request.RetryInitialBackoff = time.Millisecond
	cfg.Request.RetryMaxBackoff = 5 * time.Millisecond
	return cfg
}

// build builds the sink with cctx; a zero cctx gets a discarding logger
// and metrics of its own.
func build(t testing.TB, cfg *Config, cctx component.Context) *Sink {
	t.Helper()
	cctx.Kind, cctx.Type = component.KindSink, Type
	if cctx.ID == "" {
		cctx.ID = "test"
	}
	if cctx.Logger == nil {
		cctx.Logger = slog.New(slog.DiscardHandler)
	}
	if cctx.Metrics == nil {
		cctx.Metrics = metrics.ForTest("sink", Type, cctx.ID)
	}
	s, err := New(cctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send runs s over batches and waits for every ack; it returns the acks'
// results in batch order.
func send(t *testing.T, s *Sink, batches ...[]event.Event) []bool {
	t.Helper()
	in := make(chan *event.Batch, len(batches))
	results := make([]chan bool, len(batches))
	for i, evs := range batches {
		results[i] = make(chan bool, 1)
		ch := results[i]
		in <- &event.Batch{Events: evs, Ack: event.NewAck(func(ok bool) { ch <- ok })}
	}
	close(in)
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), in) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	out := make([]bool, len(batches))
	for i, ch := range results {
		out[i] = <-ch
	}
	return out
}
