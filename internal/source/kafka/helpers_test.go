package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
)

// A sink type for loading test configurations (a topology needs one).
type nullSink struct{}

type nullSinkConfig struct{}

func (*nullSinkConfig) Validate() error { return nil }

func (nullSink) Run(ctx context.Context, in <-chan *event.Batch) error {
	for b := range in {
		b.Ack.Release(event.Delivered)
	}
	return nil
}

func init() {
	component.Register(component.Registration{
		Kind: component.KindSink, Type: "kafka_source_test_null",
		NewConfig: func() component.Config { return &nullSinkConfig{} },
		BuildSink: func(component.Context, component.Config) (component.Sink, error) { return nullSink{}, nil },
	})
}

func load(t *testing.T, body string) (*Config, error) {
	t.Helper()
	src := "source \"kafka\" \"nodes\" {\n" + body + "\n}\n" +
		"sink \"kafka_source_test_null\" \"out\" {\n  inputs = [\"nodes\"]\n}\n"
	cfg, err := config.Load("drover.hcl", []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	return cfg.Component("nodes").Config.(*Config), nil
}

// newCluster starts a one-broker kfake cluster with topic "logs" of n
// partitions, closed when the test ends.
func newCluster(t *testing.T, partitions int32, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, "logs"),
		kfake.GroupMinSessionTimeout(time.Second)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// produce writes n records to "logs", each an event as the kafka sink
// encodes it with message "<prefix>-<i>", keyed so that they spread over
// the partitions.
func produce(t *testing.T, c *kfake.Cluster, prefix string, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("logs"), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	meta := nomadMeta("web", "a1")
	var rs []*kgo.Record
	for i := from; i < to; i++ {
		e := event.Event{Timestamp: time.Unix(1700000000, int64(i)).UTC(), Message: fmt.Appendf(nil, "%s-%07d", prefix, i), Meta: meta}
		rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%16), Value: codec.AppendJSON(nil, &e)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// testConfig is a configuration for tests: quick commits and group timing.
func testConfig(c *kfake.Cluster) *Config {
	cfg := NewConfig()
	cfg.Brokers = c.ListenAddrs()
	cfg.Topics = []string{"logs"}
	cfg.GroupID = "aggregators"
	cfg.CommitInterval = 50 * time.Millisecond
	cfg.SessionTimeout = 3 * time.Second
	cfg.HeartbeatInterval = 100 * time.Millisecond
	cfg.RebalanceTimeout = 10 * time.Second
	cfg.RevokeTimeout = 3 * time.Second
	cfg.RetryInitialBackoff, cfg.RetryMaxBackoff = 10*time.Millisecond, 200*time.Millisecond
	return cfg
}

type built struct {
	*Source
	m      *metrics.Component
	health *health.Reporter
}

func build(t *testing.T, cfg *Config, id string) built {
	t.Helper()
	m := metrics.ForTest("source", SourceType, id)
	h := health.NewReporter("source", SourceType, id, nil)
	s, err := New(component.Context{Kind: component.KindSource, Type: SourceType, ID: id, Host: "agg-1",
		Logger: slog.New(slog.DiscardHandler), Metrics: m, Health: h}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return built{Source: s, m: m, health: h}
}

// collector is an Emitter that keeps what it got. With manual set, batches
// are held until the test releases them; otherwise they are acknowledged
// at once.
type collector struct {
	mu      sync.Mutex
	manual  bool
	block   chan struct{} // when not nil, Emit waits for it to close
	counts  map[string]int
	batches []*event.Batch
	events  []event.Event
}

func newCollector(manual bool) *collector {
	return &collector{manual: manual, counts: map[string]int{}}
}

func (c *collector) Emit(ctx context.Context, b *event.Batch) error {
	c.mu.Lock()
	block := c.block
	c.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			b.Ack.Retain(1)
			b.Ack.Release(event.Failed)
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range b.Events {
		c.counts[string(e.Message)]++
		c.events = append(c.events, e)
	}
	if c.manual {
		b.Ack.Retain(1)
		c.batches = append(c.batches, b)
	}
	return nil
}

// release releases the held batches i for which pick returns true.
func (c *collector) release(st event.Status, pick func(i int, b *event.Batch) bool) int {
	c.mu.Lock()
	var keep, out []*event.Batch
	for i, b := range c.batches {
		if b != nil && pick(i, b) {
			out = append(out, b)
			c.batches[i] = nil
		} else {
			keep = append(keep, b)
		}
	}
	c.mu.Unlock()
	for _, b := range out {
		b.Ack.Release(st)
	}
	return len(out)
}

func (c *collector) held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, b := range c.batches {
		if b != nil {
			n++
		}
	}
	return n
}

func (c *collector) unique() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.counts) }

func (c *collector) total() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.events) }

// missing returns the messages prefix-from..to-1 that did not arrive.
func (c *collector) missing(prefix string, from, to int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for i := from; i < to; i++ {
		if m := fmt.Sprintf("%s-%07d", prefix, i); c.counts[m] == 0 {
			out = append(out, m)
		}
	}
	return out
}

// runner runs a source until the test stops it.
type runner struct {
	cancel context.CancelFunc
	done   chan error
}

func run(t *testing.T, s built, out component.Emitter) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx, out) }()
	t.Cleanup(func() {
		r.stop(t)
		// Batches a test still holds are never acknowledged.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return r
}

func (r *runner) stop(t *testing.T) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}

// committed reads the group's committed offsets of "logs".
func committed(t *testing.T, c *kfake.Cluster, group string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if tp.Topic == "logs" && p.Offset >= 0 {
				out[p.Partition] = p.Offset
			}
		}
	}
	return out
}

// endOffsets returns the high watermark of every partition of "logs".
func endOffsets(t *testing.T, c *kfake.Cluster, partitions int32) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "logs"
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			out[p.Partition] = p.Offset
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func partitionsOf(st Status) string {
	var b strings.Builder
	for _, p := range st.Partitions {
		fmt.Fprintf(&b, "%d ", p.Partition)
	}
	return b.String()
}

func kfakePorts(ports ...int) []kfake.Opt { return []kfake.Opt{kfake.Ports(ports...)} }
