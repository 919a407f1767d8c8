package elasticsearch

import (
	"net/http"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/sink/elasticsearch/estest"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// destination adapts an estest.Server to sinktest.Destination.
type destination struct {
	srv *estest.Server
	// transient fails every request or every item of it.
	transient     estest.Fault
	transientItem estest.ItemFault
}

func (d *destination) SetMode(m sinktest.Mode) {
	switch m {
	case sinktest.Accept:
		d.srv.SetFault(nil)
		d.srv.SetItemFault(nil)
	case sinktest.FailTransient:
		d.srv.SetFault(d.transient)
		d.srv.SetItemFault(d.transientItem)
	case sinktest.Unauthorized:
		d.srv.SetItemFault(nil)
		d.srv.SetFault(func(*estest.Bulk) *estest.Reply {
			return &estest.Reply{Status: http.StatusUnauthorized, Header: http.Header{"Content-Type": {"application/json"}},
				Body: `{"error":{"type":"security_exception","reason":"unable to authenticate user [drover] for REST request [/_bulk]"},"status":401}`}
		})
	case sinktest.TooLarge:
		d.srv.SetItemFault(nil)
		d.srv.SetFault(func(b *estest.Bulk) *estest.Reply {
			if len(b.Items) > 2 {
				return &estest.Reply{Status: http.StatusRequestEntityTooLarge}
			}
			return nil
		})
	case sinktest.RefusePoison:
		d.srv.SetFault(nil)
		d.srv.SetItemFault(func(it *estest.Item) *estest.ItemError {
			if msg, _ := it.Fields["message"].(string); strings.Contains(msg, sinktest.Poison) {
				return &estest.ItemError{Status: 400, Type: "document_parsing_exception",
					Reason: "[1:76] failed to parse field [message] of type [long] in document"}
			}
			return nil
		})
	case sinktest.Refuse:
		d.srv.SetItemFault(nil)
		d.srv.SetFault(func(*estest.Bulk) *estest.Reply {
			return &estest.Reply{Status: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/json"}},
				Body: `{"error":{"root_cause":[{"type":"x_content_parse_exception","reason":"[1:2] Unexpected character"}],"type":"x_content_parse_exception","reason":"[1:2] Unexpected character"},"status":400}`}
		})
	}
}

func (d *destination) Received() []string {
	var out []string
	for _, doc := range d.srv.Docs() {
		msg, _ := doc.Fields["message"].(string)
		out = append(out, msg)
	}
	return out
}

func TestConformance(t *testing.T) {
	status := func(code int, header ...string) estest.Fault {
		return func(*estest.Bulk) *estest.Reply {
			r := &estest.Reply{Status: code, Header: http.Header{}}
			for i := 0; i+1 < len(header); i += 2 {
				r.Header.Set(header[i], header[i+1])
			}
			return r
		}
	}
	rejectedExecution := func(it *estest.Item) *estest.ItemError {
		return &estest.ItemError{Status: 429, Type: "es_rejected_execution_exception",
			Reason: "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, max_coordinating_and_primary_bytes=0]"}
	}
	unavailableShard := func(it *estest.Item) *estest.ItemError {
		return &estest.ItemError{Status: 503, Type: "unavailable_shards_exception",
			Reason: "[logs][0] primary shard is not active Timeout: [1m]"}
	}
	variants := []struct {
		name          string
		flavor        estest.Flavor
		mode          string
		compression   string
		transient     estest.Fault
		transientItem estest.ItemFault
	}{
		{"es8-bulk-503", estest.Elasticsearch8, ModeBulk, CompressionGzip, status(503), nil},
		{"es8-data-stream-429-retry-after", estest.Elasticsearch8, ModeDataStream, CompressionNone, status(429, "Retry-After", "0"), nil},
		{"es8-items-429", estest.Elasticsearch8, ModeBulk, CompressionGzip, nil, rejectedExecution},
		{"opensearch2-data-stream-items-503", estest.OpenSearch2, ModeDataStream, CompressionGzip, nil, unavailableShard},
		{"opensearch2-bulk-502", estest.OpenSearch2, ModeBulk, CompressionNone, status(502), nil},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, cctx component.Context) (component.Sink, sinktest.Destination) {
				srv := estest.New(t, v.flavor).Start()
				cfg := testConfig(srv.URL())
				cfg.Mode, cfg.Compression = v.mode, v.compression
				return build(t, cfg, cctx), &destination{srv: srv, transient: v.transient, transientItem: v.transientItem}
			}})
		})
	}
}
