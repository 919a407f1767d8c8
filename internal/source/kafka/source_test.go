package kafka

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
)

// TestConsumeAndCommit: every record arrives once as the event the node
// agent encoded, and after Close the group's committed offsets are the
// partitions' ends.
func TestConsumeAndCommit(t *testing.T) {
	c := newCluster(t, 4)
	produce(t, c, "a", 0, 3000)
	s := build(t, testConfig(c), "nodes")
	out := newCollector(false)
	r := run(t, s, out)
	waitFor(t, "every record", func() bool { return out.unique() == 3000 })
	st := s.Status()
	if len(st.Partitions) != 4 || st.MemberID == "" || st.Generation < 0 {
		t.Errorf("status %+v", st)
	}
	r.stop(t)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out.total() != 3000 {
		t.Errorf("%d events for 3000 records", out.total())
	}
	if got, want := committed(t, c, "aggregators"), endOffsets(t, c, 4); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("committed %v, want the ends %v", got, want)
	}
	e := out.events[0]
	if v, ok := e.Get("nomad.job_name"); !ok || v.Str() != "web" || e.Meta.Source != "nodes" || !strings.HasPrefix(string(e.Message), "a-") {
		t.Errorf("event %+v", e)
	}
	if out.events[0].Meta != out.events[1].Meta {
		t.Error("the events of one stream do not share their metadata")
	}
	if n := testutil.ToFloat64(s.ins.commits.WithLabelValues("ok")); n < 1 {
		t.Errorf("%v commits counted", n)
	}
	if n := testutil.ToFloat64(s.ins.rebalances.WithLabelValues("assigned")); n != 1 {
		t.Errorf("%v assignments counted", n)
	}
	if n := testutil.ToFloat64(s.m.ReceivedEvents); n != 3000 {
		t.Errorf("received %v", n)
	}
}

// TestCommitsOnlyTheAcknowledgedPrefix: a partition's offset moves only
// over batches acknowledged without a gap before them.
func TestCommitsOnlyTheAcknowledgedPrefix(t *testing.T) {
	c := newCluster(t, 1)
	produce(t, c, "a", 0, 100)
	cfg := testConfig(c)
	cfg.MaxBatchEvents = 10
	s := build(t, cfg, "nodes")
	out := newCollector(true)
	run(t, s, out)
	waitFor(t, "every record", func() bool { return out.unique() == 100 })
	// Batches 1..9 acknowledged, batch 0 not: nothing may be committed.
	out.release(event.Delivered, func(i int, _ *event.Batch) bool { return i > 0 })
	time.Sleep(5 * cfg.CommitInterval) // several commit rounds; nothing may happen in them
	if got := committed(t, c, "aggregators"); len(got) != 0 {
		t.Fatalf("committed %v past an unacknowledged batch", got)
	}
	if lag := testutil.ToFloat64(s.ins.lag.WithLabelValues("logs", "0")); lag != 100 {
		t.Errorf("lag %v, want 100", lag)
	}
	out.release(event.Delivered, func(int, *event.Batch) bool { return true })
	waitFor(t, "the commit", func() bool { return committed(t, c, "aggregators")[0] == 100 })
	waitFor(t, "no lag", func() bool { return testutil.ToFloat64(s.ins.lag.WithLabelValues("logs", "0")) == 0 })
}

// TestRejectedBatchesMoveOn: a batch a sink rejected for good is not read
// again.
func TestRejectedBatchesMoveOn(t *testing.T) {
	c := newCluster(t, 1)
	produce(t, c, "a", 0, 20)
	cfg := testConfig(c)
	cfg.MaxBatchEvents = 10
	s := build(t, cfg, "nodes")
	out := newCollector(true)
	run(t, s, out)
	waitFor(t, "every record", func() bool { return out.unique() == 20 })
	out.release(event.Rejected, func(i int, _ *event.Batch) bool { return i == 0 })
	out.release(event.Delivered, func(int, *event.Batch) bool { return true })
	waitFor(t, "the commit", func() bool { return committed(t, c, "aggregators")[0] == 20 })
	if out.total() != 20 {
		t.Errorf("%d events", out.total())
	}
}

// TestFailedBatchIsReadAgain: a batch a consumer gave up on (Failed) is
// read again from the last acknowledged offset; nothing is committed past
// it.
func TestFailedBatchIsReadAgain(t *testing.T) {
	c := newCluster(t, 1)
	produce(t, c, "a", 0, 30)
	cfg := testConfig(c)
	cfg.MaxBatchEvents = 10
	s := build(t, cfg, "nodes")
	out := newCollector(true)
	run(t, s, out)
	waitFor(t, "every record", func() bool { return out.unique() == 30 })
	out.release(event.Delivered, func(i int, _ *event.Batch) bool { return i == 0 })
	out.release(event.Failed, func(i int, _ *event.Batch) bool { return i == 1 })
	out.release(event.Delivered, func(i int, _ *event.Batch) bool { return i == 2 })
	waitFor(t, "the records after the failed batch again", func() bool {
		out.release(event.Delivered, func(int, *event.Batch) bool { return true })
		out.mu.Lock()
		defer out.mu.Unlock()
		return out.counts["a-0000010"] == 2 && out.counts["a-0000029"] == 2
	})
	out.mu.Lock()
	again := out.counts["a-0000000"]
	out.mu.Unlock()
	if again != 1 {
		t.Errorf("a record before the failed batch was read %d times", again)
	}
	waitFor(t, "the commit", func() bool { return committed(t, c, "aggregators")[0] == 30 })
}

// TestRebalanceHandsOverWithoutLoss: a second member joins while the first
// holds unacknowledged batches. The first waits for them (they are
// acknowledged during revoke_timeout), commits and releases the
// partitions; the second starts where the first stopped. Every record
// arrives, none twice.
func TestRebalanceHandsOverWithoutLoss(t *testing.T) {
	c := newCluster(t, 4)
	produce(t, c, "a", 0, 2000)
	cfg := testConfig(c)
	cfg.MaxBatchEvents = 50
	first := build(t, cfg, "one")
	out1 := newCollector(true)
	run(t, first, out1)
	waitFor(t, "the first member's records", func() bool { return out1.unique() == 2000 })

	// Acknowledge everything while the second member joins: the revoke
	// waits for these acknowledgements.
	stopAck := make(chan struct{})
	var acked atomic.Int64
	go func() {
		for {
			select {
			case <-stopAck:
				return
			case <-time.After(20 * time.Millisecond):
				acked.Add(int64(out1.release(event.Delivered, func(int, *event.Batch) bool { return true })))
			}
		}
	}()
	defer close(stopAck)
	second := build(t, cfg, "two")
	out2 := newCollector(false)
	run(t, second, out2)
	waitFor(t, "the partitions to be shared", func() bool {
		return len(first.Status().Partitions) == 2 && len(second.Status().Partitions) == 2
	})
	produce(t, c, "b", 0, 2000)
	waitFor(t, "the new records", func() bool { return merged(out1, out2, "b", 2000) == 0 })
	if n := merged(out1, out2, "a", 2000) + merged(out1, out2, "b", 2000); n != 0 {
		t.Fatalf("%d records never arrived", n)
	}
	// Every batch of the revoked partitions was acknowledged within
	// revoke_timeout and committed: the second member read none of "a".
	if dup := len(out2.missing("a", 0, 2000)); dup != 2000 {
		t.Errorf("the second member read %d records the first had delivered", 2000-dup)
	}
	if n := testutil.ToFloat64(first.ins.rebalances.WithLabelValues("revoked")); n < 1 {
		t.Errorf("%v revocations counted", n)
	}
	t.Logf("first member: %s, second: %s", partitionsOf(first.Status()), partitionsOf(second.Status()))
}

// merged is the number of messages prefix-0..n-1 that neither collector got.
func merged(a, b *collector, prefix string, n int) int {
	missing := 0
	for _, m := range a.missing(prefix, 0, n) {
		b.mu.Lock()
		if b.counts[m] == 0 {
			missing++
		}
		b.mu.Unlock()
	}
	return missing
}

// TestRevokeTimeoutReleasesUnacknowledged: a member whose sink does not
// acknowledge gives its partitions up after revoke_timeout without
// committing past what was acknowledged; the next member reads the
// unacknowledged records again.
func TestRevokeTimeoutReleasesUnacknowledged(t *testing.T) {
	c := newCluster(t, 2)
	produce(t, c, "a", 0, 400)
	cfg := testConfig(c)
	cfg.RevokeTimeout = 500 * time.Millisecond
	first := build(t, cfg, "one")
	out1 := newCollector(true)
	run(t, first, out1)
	waitFor(t, "the first member's records", func() bool { return out1.unique() == 400 })
	second := build(t, cfg, "two")
	out2 := newCollector(false)
	run(t, second, out2)
	waitFor(t, "the revoked partition's records at the second member", func() bool { return out2.unique() > 0 })
	// The second member owns one partition and reads all of it from the
	// start: nothing of it was committed.
	st := second.Status()
	if len(st.Partitions) != 1 {
		t.Fatalf("second member status %+v", st)
	}
	moved := st.Partitions[0].Partition
	end := endOffsets(t, c, 2)[moved]
	waitFor(t, "the whole revoked partition", func() bool { return int64(out2.unique()) == end })
	// The partition the first member kept has nothing committed: none of
	// its batches was acknowledged.
	kept := first.Status().Partitions
	if len(kept) != 1 || kept[0].Partition == moved {
		t.Fatalf("first member status %+v", first.Status())
	}
	if off, ok := committed(t, c, "aggregators")[kept[0].Partition]; ok {
		t.Errorf("partition %d committed at %d without an acknowledgement", kept[0].Partition, off)
	}
}

// TestBackpressureStopsFetching: while Emit blocks, the source does not
// keep fetching: the number of fetch requests stops growing.
func TestBackpressureStopsFetching(t *testing.T) {
	c := newCluster(t, 1)
	produce(t, c, "a", 0, 5000)
	var fetches atomic.Int64
	c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		fetches.Add(1)
		return nil, nil, false
	})
	cfg := testConfig(c)
	cfg.FetchMaxBytes, cfg.FetchMaxPartitionBytes = 64<<10, 64<<10
	cfg.MaxBatchEvents = 10
	s := build(t, cfg, "nodes")
	out := newCollector(false)
	out.block = make(chan struct{})
	run(t, s, out)
	waitFor(t, "fetching to begin", func() bool { return fetches.Load() > 0 })
	time.Sleep(300 * time.Millisecond)
	n := fetches.Load()
	time.Sleep(time.Second)
	if more := fetches.Load() - n; more > 1 {
		t.Fatalf("%d more fetch requests while the output was blocked", more)
	}
	if got := testutil.ToFloat64(s.m.ReceivedEvents); got > 1000 {
		t.Fatalf("%v records taken in while the output was blocked", got)
	}
	close(out.block)
	waitFor(t, "every record after the block", func() bool { return out.unique() == 5000 })
}

// TestUnreachableBrokers: while no broker answers, the source reports the
// api condition as failing; it clears once the cluster is there.
func TestUnreachableBrokers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := NewConfig()
	cfg.Brokers, cfg.Topics, cfg.GroupID = []string{addr}, []string{"logs"}, "g"
	cfg.ConnectTimeout = 200 * time.Millisecond
	cfg.RetryInitialBackoff, cfg.RetryMaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	s := build(t, cfg, "nodes")
	run(t, s, newCollector(false))
	waitFor(t, "the api condition", func() bool {
		c, ok := s.health.Condition(health.ConditionAPI)
		return ok && c.State == health.Failing && c.Reason == "unreachable"
	})

	// A cluster on that address: the condition clears.
	port := ln.Addr().(*net.TCPAddr).Port
	c := newCluster(t, 1, kfakePorts(port)...)
	produce(t, c, "a", 0, 1)
	waitFor(t, "the condition to clear", func() bool {
		_, ok := s.health.Condition(health.ConditionAPI)
		return !ok
	})
}

func TestConfig(t *testing.T) {
	c, err := load(t, `
  brokers        = ["k1:9092", "k2:9092"]
  topics         = ["logs-default", "^logs-.*"]
  group_id       = "aggregators"
  decoding       = "json"
  record_fields  = "kafka"
  start_offset   = "latest"
  commit_interval = "2s"
  revoke_timeout = "5s"
  session_timeout = "20s"
  sasl {
    mechanism = "plain"
    username  = "u"
  }
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.GroupID != "aggregators" || c.Decoding != "json" || c.RecordFields != "kafka" || c.StartOffset != "latest" ||
		c.CommitInterval != 2*time.Second || c.RevokeTimeout != 5*time.Second || c.SessionTimeout != 20*time.Second ||
		c.SASL == nil || c.ClientID != "drover" || c.MaxBatchEvents != DefaultMaxBatchEvents {
		t.Fatalf("decoded %+v", c)
	}
	topics, regex := c.consumeTopics()
	if !regex || topics[0] != `^logs-default$` || topics[1] != "^logs-.*" {
		t.Errorf("topics %q regex %v", topics, regex)
	}
	base := "brokers = [\"k:9092\"]\n topics = [\"logs\"]\n group_id = \"g\"\n"
	for _, tc := range []struct{ body, field string }{
		{"brokers = [\"k:9092\"]\n topics = []\n group_id = \"g\"", "topics"},
		{"brokers = [\"k:9092\"]\n topics = [\"bad topic\"]\n group_id = \"g\"", "topics"},
		{"brokers = [\"k:9092\"]\n topics = [\"^(\"]\n group_id = \"g\"", "topics"},
		{"brokers = [\"k:9092\"]\n topics = [\"logs\"]\n group_id = \"\"", "group_id"},
		{"brokers = []\n topics = [\"logs\"]\n group_id = \"g\"", "brokers"},
		{base + "record_fields = \"message\"", "record_fields"},
		{base + "revoke_timeout = \"2m\"", "revoke_timeout"},
		{base + "heartbeat_interval = \"20s\"", "heartbeat_interval"},
		{base + "fetch_max_partition_bytes = \"32MiB\"", "fetch_max_partition_bytes"},
		{base + "max_batch_events = 0", "max_batch_events"},
		{base + "commit_interval = \"0s\"", "commit_interval"},
	} {
		_, err := load(t, tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "drover.hcl:") {
			t.Errorf("%q: error %v does not name %s", tc.body, err, tc.field)
		}
	}
	for _, enum := range []string{`decoding = "avro"`, `start_offset = "middle"`} {
		if _, err := load(t, base+enum); err == nil || !strings.Contains(err.Error(), "Expected one of") {
			t.Errorf("%s: %v", enum, err)
		}
	}
}
