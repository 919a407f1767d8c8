package cloudwatchlogs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/deadletter"
	"github.com/drover-dev/drover/internal/sink/driver"
)

// Type is the component type name.
const Type = "cloudwatch_logs"

func init() { deadletter.RegisterSink(Type, NewConfig, New) }

// Sink is a CloudWatch Logs sink. It implements component.Sink and
// component.Healthchecker.
type Sink struct {
	cfg       *Config
	client    *cloudwatchlogs.Client
	transport *transports
	router    *router
	enc       encoder
	driver    *driver.Driver
	locks     streamLocks
	log       *slog.Logger
	truncated prometheus.Counter
	// now is the clock of the service's time window.
	now func() time.Time
}

// New builds the sink from a configuration: it loads the AWS configuration
// (region, credentials chain) and, with healthcheck.required, runs the
// healthcheck and fails when the check does.
func New(cctx component.Context, cfg *Config) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cctx.Log()
	m := cctx.Metrics
	if m == nil {
		m = metrics.ForTest(string(component.KindSink), Type, cctx.ID)
	}
	truncated, err := metrics.RegisterOrReuse(m.Registerer(), prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "drover", Subsystem: "cloudwatch_logs", Name: "truncated_events_total",
		Help: "Events whose message was longer than max_event_bytes and was delivered truncated.",
	}, []string{"component_kind", "component_type", "component_id"}))
	if err != nil {
		return nil, fmt.Errorf("cloudwatch_logs: registering metrics: %w", err)
	}
	tr := &transports{}
	client, err := newClient(context.Background(), cfg, tr)
	if err != nil {
		return nil, err
	}
	s := &Sink{
		cfg:       cfg,
		client:    client,
		transport: tr,
		router:    newRouter(cfg),
		log:       log,
		truncated: truncated.With(m.Labels()),
		now:       time.Now,
	}
	enc := codec.JSON
	if cfg.Encoding == EncodingText {
		enc = codec.Text
	}
	s.enc = encoder{encoding: enc, maxMessage: int(cfg.MaxEventBytes) - EventOverhead, now: func() time.Time { return s.now() }}
	dest := "CloudWatch Logs " + client.Options().Region
	if cfg.Endpoint != "" {
		dest += " at " + cfg.Endpoint
	}
	cctx.Logger, cctx.Metrics = log, m
	s.driver, err = driver.New(driver.Options{
		Batch:       cfg.Batch,
		Request:     cfg.Request,
		Encoder:     s.enc,
		Sender:      s,
		Destination: dest,
		Component:   cctx,
	})
	if err != nil {
		return nil, err
	}
	if err := cfg.Healthcheck.Require(cfg.Request.Timeout, s.Healthcheck, tr.closeIdle); err != nil {
		return nil, fmt.Errorf("healthcheck.required: %w", err)
	}
	return s, nil
}

// Run delivers the batches of in; see component.Sink and driver.Run.
func (s *Sink) Run(ctx context.Context, in <-chan *event.Batch) error {
	defer s.transport.closeIdle()
	return s.driver.Run(ctx, in)
}

// Healthcheck calls DescribeLogGroups, which checks the endpoint, the
// region and the credentials. When the group name is constant and the sink
// may not create it, it also checks that the group exists. It returns nil
// at once when the check is disabled.
func (s *Sink) Healthcheck(ctx context.Context) error {
	if !s.cfg.Healthcheck.Enabled {
		return nil
	}
	in := &cloudwatchlogs.DescribeLogGroupsInput{Limit: aws.Int32(1)}
	constant := s.router.group.IsConstant()
	if p := s.router.group.Prefix(); p != "" {
		in.LogGroupNamePrefix = aws.String(p)
	}
	out, err := s.client.DescribeLogGroups(ctx, in)
	if err != nil {
		return fmt.Errorf("healthcheck: DescribeLogGroups: %w", describe(err, target{group: s.cfg.GroupName}))
	}
	if !constant || s.cfg.CreateMissingGroup {
		return nil
	}
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) == s.cfg.GroupName {
			return nil
		}
	}
	return fmt.Errorf("healthcheck: log group %q does not exist and create_missing_group is false", s.cfg.GroupName)
}
