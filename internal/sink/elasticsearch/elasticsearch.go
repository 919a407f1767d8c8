// Package elasticsearch is the `sink "elasticsearch"` component: it sends
// events to Elasticsearch or OpenSearch with the _bulk API, as
// gzip-compressed NDJSON, into an index named by a template or into data
// streams.
//
// Delivery follows the cluster's answers and drover's delivery policy
// (docs/delivery.md). A whole request answered with a network error, a
// timeout, 401, 403, 404, 429, 5xx or another status that names no
// document is retried with backoff until the cluster takes it (honouring
// Retry-After); 413 and 400 send it again in halves, down to single
// documents, and a document refused alone is rejected. A 2xx answer is read
// item by item: items failing for the cluster's state (429, 5xx, 401, 403
// such as a read-only index block, 404 such as a missing index) are sent
// again, only those; a 409 of a create counts as delivered (the document is
// there, from an earlier attempt); any other item error rejects the
// document with the error's type as the reason ("mapper_parsing_exception")
// and hands it to the sink's dead-letter output.
package elasticsearch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/deadletter"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/healthcheck"
)

// Type is the component type name.
const Type = "elasticsearch"

func init() { deadletter.RegisterSink(Type, NewConfig, New) }

// filterPath keeps only what the sink reads of a _bulk response, which
// makes the response of a large request several times smaller.
const filterPath = "errors,items.*.status,items.*.error.type,items.*.error.reason"

// Sink is an Elasticsearch sink. It implements component.Sink and
// component.Healthchecker.
type Sink struct {
	cfg      *Config
	bulkURL  string
	rootURL  string
	redacted string // bulkURL without a password, for logs and errors
	action   string
	gzip     bool
	client   *httpclient.Client
	driver   *driver.Driver
	log      *slog.Logger
	states   sync.Pool // *sendState
}

// New builds the sink from a configuration, validating it first; it runs
// the healthcheck when it is required.
func New(cctx component.Context, cfg *Config) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := httpclient.New(cfg.clientOptions())
	if err != nil {
		return nil, err
	}
	log := cctx.Log()
	root := strings.TrimSuffix(cfg.Endpoint, "/")
	q := url.Values{"filter_path": {filterPath}}
	if cfg.Pipeline != "" {
		q.Set("pipeline", cfg.Pipeline)
	}
	s := &Sink{
		cfg:     cfg,
		bulkURL: root + "/_bulk?" + q.Encode(),
		rootURL: root + "/",
		action:  cfg.action(),
		gzip:    cfg.Compression == CompressionGzip,
		client:  client,
		log:     log,
		states:  sync.Pool{New: func() any { return new(sendState) }},
	}
	s.redacted = httpclient.Redact(root + "/_bulk")
	enc := &bulkEncoder{action: s.action, route: newRouter(cfg), idField: cfg.IDField, tsKey: cfg.TimestampField}
	cctx.Logger = log
	s.driver, err = driver.New(driver.Options{
		Batch:       cfg.Batch,
		Request:     cfg.Request,
		Encoder:     enc,
		Sender:      s,
		Destination: s.redacted,
		Component:   cctx,
		Prober:      cfg.Healthcheck.Prober(s),
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

// clusterInfo is what GET / says about the cluster, in Elasticsearch and
// OpenSearch alike.
type clusterInfo struct {
	Name        string `json:"name"`
	ClusterName string `json:"cluster_name"`
	Version     struct {
		Number       string `json:"number"`
		Distribution string `json:"distribution"` // "opensearch"; absent from Elasticsearch
	} `json:"version"`
}

// Probe sends GET / with the sink's credentials; it implements
// delivery.Prober.
func (s *Sink) Probe(ctx context.Context) error {
	return s.client.Send(ctx, httpclient.Request{Method: nethttp.MethodGet, URL: s.rootURL}, nil)
}

// Healthcheck sends GET / and succeeds on a 2xx answer, logging the
// cluster's name, distribution and version. It returns nil at once when
// the check is disabled.
func (s *Sink) Healthcheck(ctx context.Context) error {
	if !s.cfg.Healthcheck.Enabled {
		return nil
	}
	where := httpclient.Redact(s.rootURL)
	hreq, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, s.rootURL, nil)
	if err != nil {
		return fmt.Errorf("healthcheck of %s: %w", where, err)
	}
	resp, err := s.client.Do(hreq)
	if err != nil {
		return fmt.Errorf("healthcheck of %s: %w", where, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := httpclient.CheckResponse(resp, time.Now())
		return fmt.Errorf("healthcheck of %s: GET / answered %w", where, err)
	}
	defer resp.Body.Close()
	var info clusterInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&info); err != nil {
		return fmt.Errorf("healthcheck of %s: GET / did not answer cluster information: %w", where, err)
	}
	dist := info.Version.Distribution
	if dist == "" {
		dist = "elasticsearch"
	}
	s.log.Info("connected to the cluster", "cluster", info.ClusterName, "node", info.Name,
		"distribution", dist, "version", info.Version.Number)
	return nil
}
