package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// aggregatorConfig is an aggregator: a kafka source of the group
// "aggregators" over every logs-* topic, into the receiver. Group timing
// is short so that a killed member's partitions move within seconds.
func aggregatorConfig(dataDir string, brokers []string, uri string) string {
	return fmt.Sprintf(`
data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }
log { level = "debug" }

source "kafka" "nodes" {
  brokers            = [%q]
  topics             = ["^logs-.*"]
  group_id           = "aggregators"
  session_timeout    = "2s"
  heartbeat_interval = "300ms"
  rebalance_timeout  = "10s"
  revoke_timeout     = "5s"
  commit_interval    = "200ms"
  max_batch_events   = 500
}

sink "http" "out" {
  inputs   = ["nodes"]
  uri      = %q
  encoding = "ndjson"
  batch {
    max_events = 500
    timeout    = "50ms"
  }
  buffer {
    max_events = 1000
  }
}
`, dataDir, strings.Join(brokers, `", "`), uri)
}

// agentRecord is one event as a node agent's kafka sink writes it.
func agentRecord(i int) []byte {
	return fmt.Appendf(nil, `{"timestamp":"2026-12-07T10:00:%02d.%09dZ","message":"agg-%07d","level":"info","file":"/var/log/app/%d.log","host":"node-%d","source_type":"file"}`,
		i/100000%60, i%100000, i, i%7, i%3)
}

// producer writes agent records to a topic at a steady rate.
type producer struct {
	mu      sync.Mutex
	written []string
}

func (p *producer) run(t *testing.T, c *kfake.Cluster, topic string, total, rate int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic), kgo.DisableClientMetrics(),
		kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	const chunk = 100
	interval := time.Duration(float64(time.Second) * chunk / float64(rate))
	next := time.Now()
	for i := 0; i < total; i += chunk {
		var rs []*kgo.Record
		var msgs []string
		for j := i; j < min(i+chunk, total); j++ {
			rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "/var/log/app/%d.log@node-%d", j%7, j%3), Value: agentRecord(j)})
			msgs = append(msgs, fmt.Sprintf("agg-%07d", j))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := cl.ProduceSync(ctx, rs...).FirstErr()
		cancel()
		if err != nil {
			t.Errorf("producing: %v", err)
			return
		}
		p.mu.Lock()
		p.written = append(p.written, msgs...)
		p.mu.Unlock()
		next = next.Add(interval)
		time.Sleep(time.Until(next))
	}
}

func (p *producer) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.written...)
}

// TestKafkaAggregators runs three drover aggregators in one consumer group
// over a 4-partition topic while records are produced; one is killed with
// SIGKILL mid-stream and a fourth joins. Every record arrives at least
// once, with the node agent's metadata, and the duplicates stay within
// what the killed member had in flight.
func TestKafkaAggregators(t *testing.T) {
	const topic = "logs-default"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topic), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	recv := newReceiver(t)
	base := t.TempDir()
	start := func(n int) *drover {
		dir := filepath.Join(base, fmt.Sprint(n))
		os.MkdirAll(dir, 0o755)
		return startDrover(t, writeConfig(t, dir, aggregatorConfig(filepath.Join(dir, "data"), c.ListenAddrs(), recv.url())))
	}
	aggs := []*drover{start(1), start(2), start(3)}

	const total, rate = 40000, 4000 // 10 s of records
	p := &producer{}
	done := make(chan struct{})
	go func() { defer close(done); p.run(t, c, topic, total, rate) }()

	waitUntil(t, 30*time.Second, "a quarter of the records", func() bool { return recv.received() >= total/4 })
	aggs[0].kill()
	killedAt := len(p.lines())
	waitUntil(t, 30*time.Second, "half of the records", func() bool { return recv.received() >= total/2 })
	aggs = append(aggs, start(4))
	<-done
	want := p.lines()
	if len(want) != total {
		t.Fatalf("produced %d of %d records", len(want), total)
	}
	waitUntil(t, 60*time.Second, "every record", func() bool { return recv.hasAll(want) })
	survivor := aggs[1]
	if n := survivor.metric("drover_kafka_rebalances_total", `event="assigned"`); n < 2 {
		t.Errorf("a surviving aggregator saw %v assignments; the kill and the new member must move partitions", n)
	}
	for _, d := range aggs[1:] {
		if code := d.stop(); code != 0 {
			t.Errorf("aggregator exited with %d", code)
		}
	}

	counts, records := recv.snapshot()
	dups := 0
	for m, n := range counts {
		if !strings.HasPrefix(m, "agg-") {
			t.Errorf("unexpected message %q", m)
		}
		dups += n - 1
	}
	for _, rec := range records {
		var i int
		fmt.Sscanf(rec.str("message"), "agg-%d", &i)
		if rec.str("host") != fmt.Sprintf("node-%d", i%3) || rec.str("file") != fmt.Sprintf("/var/log/app/%d.log", i%7) ||
			rec.str("source_type") != "file" || rec.str("level") != "info" || !strings.HasPrefix(rec.str("timestamp"), "2026-12-07T10:00:") {
			t.Fatalf("record %v lost the node agent's fields", rec)
		}
	}
	// The killed member held at most 2 of the 4 partitions. What repeats is
	// what it had delivered since its last commit (commit_interval of its
	// records) plus what was in flight to its sink (buffer.max_events) and
	// its batch being emitted; the rebalance when the fourth member joined
	// waits for the acknowledgements and adds nothing.
	bound := rate*200/1000 + 1000 + 500
	t.Logf("aggregators: %d records, %d received, %d duplicates (bound %d), killed after %d were produced",
		total, len(records), dups, bound, killedAt)
	if dups > bound {
		t.Errorf("%d duplicates exceed what the killed aggregator had in flight (%d)", dups, bound)
	}
}
