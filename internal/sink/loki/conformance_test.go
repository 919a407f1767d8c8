package loki

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/sink/loki/lokitest"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// destination adapts a lokitest.Server to sinktest.Destination: failure
// modes are faults of the server.
type destination struct {
	t         testing.TB
	srv       *lokitest.Server
	text      bool
	transient lokitest.Fault
	mu        sync.Mutex
}

func (d *destination) SetMode(m sinktest.Mode) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch m {
	case sinktest.Accept:
		d.srv.SetFault(nil)
	case sinktest.FailTransient:
		d.srv.SetFault(d.transient)
	case sinktest.Unauthorized:
		d.srv.SetFault(func(*lokitest.Push) *lokitest.Reply {
			return &lokitest.Reply{Status: http.StatusUnauthorized, Body: "invalid token"}
		})
	case sinktest.TooLarge:
		d.srv.SetFault(func(p *lokitest.Push) *lokitest.Reply {
			if p.Entries() > 2 {
				return &lokitest.Reply{Status: http.StatusRequestEntityTooLarge, Body: "request body too large"}
			}
			return nil
		})
	case sinktest.RefusePoison:
		// Loki's answer when an entry of a push is invalid: 400 naming it
		// in its own words (here nothing is stored).
		d.srv.SetFault(func(p *lokitest.Push) *lokitest.Reply {
			for _, st := range p.Streams {
				for _, e := range st.Entries {
					if strings.Contains(e.Line, sinktest.Poison) {
						return &lokitest.Reply{Status: http.StatusBadRequest, Body: tooOld}
					}
				}
			}
			return nil
		})
	case sinktest.Refuse:
		// Loki's answer when every entry of a push is invalid: 400, and
		// nothing stored.
		d.srv.SetFault(func(p *lokitest.Push) *lokitest.Reply {
			return &lokitest.Reply{Status: http.StatusBadRequest, Body: tooOld}
		})
	}
}

const tooOld = "entry for stream '{job=\"web\"}' has timestamp too old: 2023-11-14T22:13:20Z, oldest acceptable timestamp is: 2024-05-01T00:00:00Z"

func (d *destination) Received() []string {
	var out []string
	for _, e := range d.srv.Entries() {
		if d.text {
			out = append(out, e.Line)
		} else {
			out = append(out, message(d.t, e.Line))
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	status := func(code int, header ...string) lokitest.Fault {
		return func(*lokitest.Push) *lokitest.Reply {
			r := &lokitest.Reply{Status: code, Header: http.Header{}, Body: http.StatusText(code)}
			for i := 0; i+1 < len(header); i += 2 {
				r.Header.Set(header[i], header[i+1])
			}
			return r
		}
	}
	variants := []struct {
		name, format, compression, encoding string
		tenant                              string
		transient                           lokitest.Fault
	}{
		{"protobuf-503", FormatProtobuf, "", EncodingJSON, "", status(503)},
		{"protobuf-text-429-retry-after", FormatProtobuf, "", EncodingText, "", status(429, "Retry-After", "0")},
		{"json-gzip-500", FormatJSON, CompressionGzip, EncodingJSON, "", status(500)},
		{"json-none-408", FormatJSON, CompressionNone, EncodingText, "", status(408)},
		{"protobuf-templated-tenant-502", FormatProtobuf, "", EncodingJSON, "{{ nomad.job_name }}", status(502)},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, cctx component.Context) (component.Sink, sinktest.Destination) {
				srv := lokitest.New(t)
				srv.MultiTenant = v.tenant != ""
				srv.Start()
				dest := &destination{t: t, srv: srv, text: v.encoding == EncodingText, transient: v.transient}
				cfg := testConfig(srv.URL())
				cfg.Format, cfg.Compression, cfg.Encoding, cfg.TenantID = v.format, v.compression, v.encoding, v.tenant
				return build(t, cfg, cctx), dest
			}})
		})
	}
}
