package opentelemetry

import (
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// TestConformance runs the sink conformance suite against the Collector's
// OTLP receiver, over HTTP with protobuf and JSON, and over gRPC.
func TestConformance(t *testing.T) {
	for _, v := range []struct{ name, protocol, encoding, compression string }{
		{"http-protobuf-gzip", ProtocolHTTP, EncodingProtobuf, CompressionGzip},
		{"http-json", ProtocolHTTP, EncodingJSON, CompressionNone},
		{"grpc-gzip", ProtocolGRPC, EncodingProtobuf, CompressionGzip},
	} {
		t.Run(v.name, func(t *testing.T) {
			sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, cctx component.Context) (component.Sink, sinktest.Destination) {
				c := startCollector(t)
				cfg := testConfig(c, v.protocol)
				cfg.Encoding, cfg.Compression = v.encoding, v.compression
				return build(t, cfg, cctx), c
			}})
		})
	}
}
