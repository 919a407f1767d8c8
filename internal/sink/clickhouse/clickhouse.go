// Package clickhouse is the `sink "clickhouse"` component: it inserts
// events through ClickHouse's HTTP interface as
// `INSERT INTO <db>.<table> FORMAT JSONEachRow`, one JSON object per event.
//
// The database and table are templates of event fields; the events of a
// request are grouped per rendered target and each group is one INSERT.
// Failed inserts are classified by the ClickHouse error code of the
// answer (see Classify and the table in codes.go) and drover's delivery
// policy (docs/delivery.md): transient ones (overload, authentication,
// access, an unknown table, refused settings) are retried with backoff
// until the server takes them; a data error that names its row rejects
// that event alone, and inserts refused as a whole for their shape are
// split to find the rows at fault. Rejected events go to the sink's
// dead-letter output. Optional settings
// (async_insert, insert_deduplication_token) are sent only when the server
// knows them, which the sink asks system.settings once.
package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/deadletter"
	"github.com/drover-dev/drover/internal/sink/driver"
)

// Type is the component type name.
const Type = "clickhouse"

func init() { deadletter.RegisterSink(Type, NewConfig, New) }

// Sink inserts events into ClickHouse. It implements component.Sink,
// component.Healthchecker and driver.Sender.
type Sink struct {
	cfg          *Config
	endpoint     string // the endpoint URL without query string, with a path
	redacted     string // endpoint without a password, for logs and errors
	staticParams string
	gzip         bool
	client       *httpclient.Client
	router       *router
	log          *slog.Logger
	driver       *driver.Driver

	detect     detector
	needDetect bool // an option depends on what the server supports
}

// New builds the sink from a configuration. With healthcheck.required it
// runs the healthcheck and fails when the check does.
func New(cctx component.Context, cfg *Config) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := httpclient.New(cfg.clientOptions())
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.Endpoint)
	if u.Path == "" {
		u.Path = "/"
	}
	log := cctx.Log()
	s := &Sink{
		cfg:          cfg,
		endpoint:     u.String(),
		redacted:     u.Redacted(),
		staticParams: staticParams(cfg),
		gzip:         cfg.Compression == CompressionGzip,
		client:       client,
		router:       newRouter(cfg),
		log:          log,
		needDetect:   cfg.AsyncInsert || cfg.InsertDeduplicationToken != TokenNever,
	}
	cctx.Logger = log
	s.driver, err = driver.New(driver.Options{
		Batch:       cfg.Batch,
		Request:     cfg.Request,
		Encoder:     codec.Lines{Encoding: codec.JSON},
		Sender:      s,
		Destination: s.redacted,
		Component:   cctx,
		Prober:      cfg.Healthcheck.Prober(s),
	})
	if err != nil {
		return nil, err
	}
	if err := cfg.Healthcheck.Require(cfg.Request.Timeout, s.Healthcheck, client.CloseIdleConnections); err != nil {
		return nil, fmt.Errorf("healthcheck.required: %w", err)
	}
	return s, nil
}

// Run delivers the batches of in; see component.Sink and driver.Run.
func (s *Sink) Run(ctx context.Context, in <-chan *event.Batch) error {
	defer s.client.CloseIdleConnections()
	return s.driver.Run(ctx, in)
}

// Probe runs SELECT 1 with the sink's credentials; it implements
// delivery.Prober.
func (s *Sink) Probe(ctx context.Context) error {
	_, err := s.query(ctx, "SELECT 1")
	return err
}

// features returns what the server supports, asking it on first use when
// an option depends on it.
func (s *Sink) features(ctx context.Context) (features, error) {
	if !s.needDetect {
		return features{}, nil
	}
	f, fresh, err := s.detect.get(ctx, s)
	if err != nil {
		return f, err
	}
	if fresh {
		s.logFeatures(f)
	}
	return f, nil
}

// logFeatures logs what the detection found, and warns about configured
// settings that the server does not support.
func (s *Sink) logFeatures(f features) {
	if !f.known {
		s.log.Warn("could not detect the server's settings; sending only configured ones", "error", f.refusal,
			"destination", s.redacted)
		return
	}
	s.log.Info("detected ClickHouse server", "server", f.String(), "destination", s.redacted,
		"async_insert", s.useAsync(f), "insert_deduplication_token", s.useToken(f))
	if s.cfg.AsyncInsert && !s.useAsync(f) {
		s.log.Warn("async_insert is configured but the server does not support it (ClickHouse 21.11 or later); sending synchronous inserts",
			"version", f.version)
	}
	if s.cfg.InsertDeduplicationToken == TokenAlways && !s.useToken(f) {
		s.log.Warn("insert_deduplication_token = \"always\" but the server does not support the setting (ClickHouse 22.2 or later); sending inserts without it",
			"version", f.version)
	}
}

// Healthcheck checks that the server answers queries with the configured
// credentials, detects the settings it supports, and, when the table
// (and database) templates are constant, that the table exists. It
// returns nil at once when the check is disabled.
func (s *Sink) Healthcheck(ctx context.Context) error {
	if !s.cfg.Healthcheck.Enabled {
		return nil
	}
	f, fresh, err := s.detect.get(ctx, s)
	if err != nil {
		return fmt.Errorf("healthcheck of %s: %w", s.redacted, err)
	}
	if !f.known {
		return fmt.Errorf("healthcheck of %s: %w", s.redacted, f.refusal)
	}
	if fresh {
		s.logFeatures(f)
	}
	if !s.router.constant {
		return nil
	}
	t := target{table: s.cfg.Table}
	if s.router.db != nil {
		t.database = s.cfg.Database
	}
	out, err := s.query(ctx, "EXISTS TABLE "+t.String()+" FORMAT TabSeparated")
	if err != nil {
		return fmt.Errorf("healthcheck of %s: checking table %s: %w", s.redacted, t, err)
	}
	if strings.TrimSpace(out) != "1" {
		return fmt.Errorf("healthcheck of %s: table %s does not exist", s.redacted, t)
	}
	return nil
}
