// Package kafka is the `sink "kafka"` component: it produces one Kafka
// record per event with franz-go's producer, idempotent and with acks
// from all in-sync replicas by default.
//
// The topic, key and header values are templates of event fields; an
// event whose topic template renders empty goes to default_topic. The
// value is the event as JSON or its bare message. A source batch is
// released once every one of its records has a verdict (batch.Ticket).
//
// Delivery follows drover's policy (docs/delivery.md). The Kafka client
// retries retriable broker errors on its own, for up to delivery_timeout;
// records that still fail are produced again by the sink after a backoff,
// never dropped, and so are records refused for what is not their fault
// (authentication, authorization, an unknown topic, settings the brokers
// refuse): they wait until that is fixed. Records the brokers refuse for
// their content (too large, an invalid topic name, a timestamp or policy
// the topic refuses) are rejected with the reason and handed to the sink's
// dead-letter output.
package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/deadletter"
	"github.com/drover-dev/drover/internal/sink/delivery"
	"github.com/drover-dev/drover/internal/sink/retry"
	"github.com/drover-dev/drover/internal/template"
)

// Type is the component type name.
const Type = "kafka"

func init() { deadletter.RegisterSink(Type, NewConfig, New) }

// Sink produces events to Kafka. It implements component.Sink and
// component.Healthchecker.
type Sink struct {
	cfg     *Config
	opts    []kgo.Opt
	log     *slog.Logger
	m       instruments
	records sync.Pool
	// track reports failures, refusals and deliveries.
	track *delivery.Tracker
	dead  *deadletter.Writer
}

type instruments struct {
	sentEvents, sentBytes, retries, sendErrors prometheus.Counter
}

// New builds the sink from a configuration. With healthcheck.required it
// runs the healthcheck and fails when the check does.
func New(cctx component.Context, cfg *Config) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cctx.Log()
	log = log.With("brokers", strings.Join(cfg.Brokers, ","))
	opts, err := clientOptions(cfg, log)
	if err != nil {
		return nil, err
	}
	// Building a client checks the options; it connects only when used.
	probe, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client options: %w", err)
	}
	probe.Close()
	m := cctx.Metrics
	if m == nil {
		m = metrics.ForTest("sink", Type, "unknown")
	}
	cctx.Metrics = m
	s := &Sink{
		cfg:   cfg,
		opts:  opts,
		log:   log,
		track: delivery.New(delivery.Config{Logger: log, Metrics: m, Health: cctx.Health}),
		dead:  deadletter.New(cctx),
		m: instruments{
			sentEvents: m.SentEvents,
			sentBytes:  m.SentBytes,
			retries:    m.Retries,
			sendErrors: m.Errors("send"),
		},
	}
	if err := cfg.Healthcheck.Require(cfg.DeliveryTimeout, s.Healthcheck, nil); err != nil {
		return nil, fmt.Errorf("healthcheck.required: %w", err)
	}
	return s, nil
}

// Run implements component.Sink: it produces the events of in until in is
// closed and every record has a verdict, then returns nil. When ctx ends,
// it closes the client and releases every record without a verdict as
// Failed, and returns nil.
func (s *Sink) Run(ctx context.Context, in <-chan *event.Batch) error {
	cl, err := kgo.NewClient(s.opts...)
	if err != nil {
		return fmt.Errorf("creating the Kafka client: %w", err)
	}
	p := newProducer(s, cl, ctx)
	p.run(in)
	p.stop()
	return nil
}

func (s *Sink) getRecord() *record {
	if r, ok := s.records.Get().(*record); ok {
		return r
	}
	r := &record{}
	r.promise = func(_ *kgo.Record, err error) { r.p.done(r, err) }
	return r
}

func (s *Sink) putRecord(r *record) {
	r.t, r.p, r.ev = nil, nil, nil
	r.kr = kgo.Record{}
	clear(r.hdrs)
	if cap(r.buf) > maxPooledBuf {
		r.buf = nil
	}
	s.records.Put(r)
}

// failTransient counts a record that failed transiently for reason and
// logs the first of a run.
func (s *Sink) failTransient(reason string, err error) {
	s.m.sendErrors.Inc()
	s.track.Failed(retry.Transient(reason, err), 1, "delivery_timeout", s.cfg.DeliveryTimeout)
}

// Healthcheck sends a metadata request: it passes when a broker answers
// (over TLS and SASL when configured) and, when the topic is constant or a
// default topic is set, that topic exists. It returns nil at once when
// the check is disabled.
func (s *Sink) Healthcheck(ctx context.Context) error {
	if !s.cfg.Healthcheck.Enabled {
		return nil
	}
	brokers := strings.Join(s.cfg.Brokers, ",")
	cl, err := kgo.NewClient(s.opts...)
	if err != nil {
		return fmt.Errorf("healthcheck of %s: %w", brokers, err)
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none: only the brokers
	for _, topic := range s.checkedTopics() {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, t)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("healthcheck of %s: metadata request: %w", brokers, err)
	}
	if len(resp.Brokers) == 0 {
		return fmt.Errorf("healthcheck of %s: the metadata lists no brokers", brokers)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			return fmt.Errorf("healthcheck of %s: topic %s: %w", brokers, name, err)
		}
	}
	return nil
}

// checkedTopics are the topics the healthcheck can name: the topic when it
// is constant, and the default topic.
func (s *Sink) checkedTopics() []string {
	var out []string
	if t := template.MustParse(s.cfg.Topic); t.IsConstant() {
		out = append(out, s.cfg.Topic)
	}
	if s.cfg.DefaultTopic != "" && s.cfg.DefaultTopic != s.cfg.Topic {
		out = append(out, s.cfg.DefaultTopic)
	}
	return out
}
