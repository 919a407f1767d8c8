// Package loki is the `sink "loki"` component: it pushes events to Grafana
// Loki's push API (/loki/api/v1/push), as snappy-compressed protobuf or as
// JSON, with stream labels, structured metadata and the tenant rendered
// from event fields by templates.
//
// Delivery follows Loki's answers and drover's delivery policy
// (docs/delivery.md): 2xx delivers; network errors, timeouts, 401, 403,
// 404, 429, 5xx and other statuses are retried with backoff until Loki
// takes the entries (honouring Retry-After); 413 sends the push again in
// halves, down to single entries; 400 means Loki stored the valid entries
// and refused others without saying which: the push is sent again in
// halves (Loki ignores the entries it already has), and an entry refused
// alone is rejected with the reason of Loki's message ("too_old",
// "out_of_order", "line_too_long", ...) and handed to the dead-letter
// output.
package loki

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"sync"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/deadletter"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/healthcheck"
	"github.com/drover-dev/drover/internal/template"
)

// Type is the component type name.
const Type = "loki"

func init() { deadletter.RegisterSink(Type, NewConfig, New) }

// tenantHeader carries the tenant of a push to a multi-tenant Loki.
const tenantHeader = "X-Scope-OrgID"

// Sink is a Loki sink. It implements component.Sink and
// component.Healthchecker.
type Sink struct {
	cfg         *Config
	url         string
	redacted    string // url without a password, for logs and errors
	healthURL   string
	contentType string
	compression string
	labels      templateSet
	metadata    templateSet
	tenant      *tenantRouter
	client      *httpclient.Client
	driver      *driver.Driver
	log         *slog.Logger
	states      sync.Pool // *sendState
}

// New builds the sink from a configuration, validating it first. It warns
// about labels built from high-cardinality fields unless the configuration
// allows them, and runs the healthcheck when it is required.
func New(cctx component.Context, cfg *Config) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := httpclient.New(cfg.clientOptions())
	if err != nil {
		return nil, err
	}
	log := cctx.Log()
	s := &Sink{
		cfg:         cfg,
		url:         joinURL(cfg.Endpoint, cfg.Path),
		healthURL:   joinURL(cfg.Endpoint, cfg.Healthcheck.Path),
		contentType: "application/x-protobuf",
		compression: cfg.compression(),
		labels:      newTemplateSet(cfg.Labels, cfg.LabelDefaults),
		metadata:    newTemplateSet(cfg.StructuredMetadata, nil),
		client:      client,
		log:         log,
	}
	s.redacted = httpclient.Redact(s.url)
	if cfg.Format == FormatJSON {
		s.contentType = "application/json"
	}
	if cfg.TenantID != "" {
		s.tenant = newTenantRouter(template.MustParse(cfg.TenantID), cfg.DefaultTenantID)
	} else if cfg.DefaultTenantID != "" {
		s.tenant = newTenantRouter(nil, cfg.DefaultTenantID)
	}
	json := cfg.Format == FormatJSON
	s.states.New = func() any { return newSendState(&s.labels, &s.metadata, json) }
	if !cfg.AllowHighCardinalityLabels {
		for _, lf := range s.labels.highCardinalityFields() {
			log.Warn("a Loki label is built from a high-cardinality field: every value makes a stream of its own "+
				"and can overload Loki's index; put it into structured_metadata or the line instead, "+
				"or set allow_high_cardinality_labels = true", "label", lf)
		}
	}
	cctx.Logger = log
	s.driver, err = driver.New(driver.Options{
		Batch:       cfg.Batch,
		Request:     cfg.Request,
		Encoder:     lineEncoder{text: cfg.Encoding == EncodingText},
		Sender:      s,
		Destination: s.redacted,
		Component:   cctx,
		Prober:      cfg.Healthcheck.Prober(s),
		// A quiet node's lines go out within a tenth of batch.timeout.
		SendWhenIdle: true,
	})
	if err != nil {
		return nil, err
	}
	if err := cfg.Healthcheck.Require(healthcheck.Timeout, s.Healthcheck, s.client.CloseIdleConnections); err != nil {
		return nil, fmt.Errorf("required healthcheck failed: %w", err)
	}
	return s, nil
}

// Run delivers the batches of in; see component.Sink and driver.Run.
func (s *Sink) Run(ctx context.Context, in <-chan *event.Batch) error {
	defer s.client.CloseIdleConnections()
	return s.driver.Run(ctx, in)
}

// Healthcheck sends GET to the endpoint's healthcheck.path (/ready by
// default) and succeeds on a 2xx answer. It returns nil at once when the
// check is disabled.
func (s *Sink) Healthcheck(ctx context.Context) error {
	if !s.cfg.Healthcheck.Enabled {
		return nil
	}
	return s.Probe(ctx)
}

// Probe sends the healthcheck request; it implements delivery.Prober.
func (s *Sink) Probe(ctx context.Context) error {
	hreq, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, s.healthURL, nil)
	if err != nil {
		return fmt.Errorf("healthcheck of %s: %w", httpclient.Redact(s.healthURL), err)
	}
	resp, err := s.client.Do(hreq)
	if err != nil {
		return fmt.Errorf("healthcheck of %s: %w", httpclient.Redact(s.healthURL), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("healthcheck of %s: GET answered %d %s: %q", httpclient.Redact(s.healthURL),
			resp.StatusCode, nethttp.StatusText(resp.StatusCode), body)
	}
	return nil
}
