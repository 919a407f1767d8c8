package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// cluster is a kfake cluster in the test process whose produce requests
// can be failed: answered with a Kafka error code, or with the connection
// closed before the broker handles them.
type cluster struct {
	*kfake.Cluster
	t *testing.T

	mu         sync.Mutex
	produceErr int16 // error code for every partition of a produce request; 0 lets the broker handle it
	drops      int   // produce requests still to answer by closing the connection
	produces   int   // produce requests seen
}

// newCluster starts a one-broker cluster with the topics (name to number of
// partitions) and closes it when the test ends.
func newCluster(t *testing.T, topics map[string]int32, opts ...kfake.Opt) *cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)
	for name, n := range topics {
		opts = append(opts, kfake.SeedTopics(n, name))
	}
	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{Cluster: kc, t: t}
	t.Cleanup(kc.Close)
	kc.ControlKey(int16(kmsg.Produce), c.controlProduce)
	return c
}

func (c *cluster) controlProduce(req kmsg.Request) (kmsg.Response, error, bool) {
	c.KeepControl()
	c.mu.Lock()
	c.produces++
	code, drop := c.produceErr, c.drops > 0
	if drop {
		c.drops--
	}
	c.mu.Unlock()
	switch {
	case drop:
		return nil, errors.New("connection dropped by the test"), true
	case code != 0:
		return produceError(req.(*kmsg.ProduceRequest), code), nil, true
	}
	return nil, nil, false
}

// produceError answers every partition of a produce request with code.
func produceError(req *kmsg.ProduceRequest, code int16) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (c *cluster) setProduceError(code int16) { c.mu.Lock(); c.produceErr = code; c.mu.Unlock() }

func (c *cluster) dropConnections(n int) { c.mu.Lock(); c.drops = n; c.mu.Unlock() }

func (c *cluster) produceRequests() int { c.mu.Lock(); defer c.mu.Unlock(); return c.produces }

// consume reads every record of a topic up to its end offsets, partition
// by partition in offset order.
func (c *cluster) consume(topic string, partitions int32) []*kgo.Record {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DisableClientMetrics(),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		c.t.Fatalf("listing offsets of %s: %v", topic, err)
	}
	var want int64
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			want += p.Offset
		}
	}
	byPartition := make([][]*kgo.Record, partitions)
	for got := int64(0); got < want; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			c.t.Fatalf("read %d of %d records of %s", got, want, topic)
		}
		fs.EachRecord(func(r *kgo.Record) {
			byPartition[r.Partition] = append(byPartition[r.Partition], r)
			got++
		})
	}
	var out []*kgo.Record
	for _, rs := range byPartition {
		out = append(out, rs...)
	}
	return out
}

// messages returns the "message" of records holding JSON events.
func messages(t *testing.T, rs []*kgo.Record) []string {
	t.Helper()
	out := make([]string, len(rs))
	for i, r := range rs {
		var v struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("record value %q: %v", r.Value, err)
		}
		out[i] = v.Message
	}
	return out
}

// testConfig is a configuration for tests: partly filled batches leave
// within a millisecond, delivery times out after 1s (franz-go's least),
// the sink retries within milliseconds.
func testConfig(c *cluster, topic string) *Config {
	cfg := NewConfig()
	cfg.Brokers = c.ListenAddrs()
	cfg.Topic = topic
	cfg.DeliveryTimeout = time.Second
	cfg.RequestTimeout = 2 * time.Second
	cfg.RetryInitialBackoff, cfg.RetryMaxBackoff = time.Millisecond, 5*time.Millisecond
	cfg.Batch.Timeout = time.Millisecond
	return cfg
}

// build builds a sink of cfg; cctx defaults to sinktest.Context.
func build(t testing.TB, cfg *Config, cctx ...component.Context) *Sink {
	t.Helper()
	return sinktest.Build(t, Type, New, cfg, cctx...)
}

// start runs s until the test ends, then closes the cluster (whose
// connection goroutines would otherwise outlive the sink's).
func start(t *testing.T, c *cluster, s *Sink) *sinktest.Runner { return sinktest.Start(t, s, c.Close) }

// nomadMeta is the metadata of one Nomad task stream, as discovery builds
// it; namespace "" leaves the field out.
func nomadMeta(namespace, job, allocID string) *event.Meta {
	nomad := []event.Field{
		{Key: "job_name", Value: event.StringValue(job)},
		{Key: "task_name", Value: event.StringValue("server")},
		{Key: "alloc_id", Value: event.StringValue(allocID)},
	}
	if namespace != "" {
		nomad = append([]event.Field{{Key: "namespace", Value: event.StringValue(namespace)}}, nomad...)
	}
	return event.NewMeta("nomad", event.NewFields(
		event.Field{Key: "source_type", Value: event.StringValue("nomad_logs")},
		event.Field{Key: "host", Value: event.StringValue("node-1")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(nomad...))},
	))
}

func events(meta *event.Meta, msgs ...string) []event.Event {
	out := make([]event.Event, len(msgs))
	for i, m := range msgs {
		out[i] = event.Event{Timestamp: time.Date(2026, 11, 21, 12, 0, 0, i*int(time.Millisecond), time.UTC), Message: []byte(m), Meta: meta}
	}
	return out
}
