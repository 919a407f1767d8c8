package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The kafka mode of the reliability suite: node agents' records in a
// Kafka topic (kfake, in this process), a pool of drover aggregators in one
// consumer group reading it into the receiver. The fault driver kills
// aggregators with SIGKILL (now and then SIGTERM), keeps some down for a
// while (the group shrinks and grows again), drops the group's and the
// fetchers' broker connections, and makes the sink fail as in the file
// mode. Afterwards every aggregator runs again without faults, and every
// record the producer wrote must arrive, with its node agent's metadata.
//
//	go test -run TestChaosKafka -v ./test/chaos/          # short, as in CI
//	make chaos MODE=kafka DURATION=10m [SEED=...]
//
// Environment: as TestChaos; CHAOS_KAFKA_RATE (records per second,
// default 300), CHAOS_KAFKA_AGGREGATORS (default 3).

// kafkaTopic has kafkaPartitions partitions.
const (
	kafkaTopic      = "logs-chaos"
	kafkaPartitions = 6
)

// kafkaRecord is record seq as a node agent's kafka sink writes it: the
// job, alloc and file follow from seq, so that the checker can tell
// whether the metadata arrived intact.
func kafkaRecord(seq int) []byte {
	return fmt.Appendf(nil, `{"timestamp":"2026-12-07T10:00:00.%09dZ","message":"kc-%09d","source_type":"nomad_logs","host":"node-%d","stream":"stdout","nomad":{"namespace":"default","node_id":"n-%d","job_name":"job-%d","task_name":"task","alloc_id":"alloc-%d"}}`,
		seq%1000000000, seq, seq%5, seq%5, seq%11, seq%11)
}

// kafkaChecker knows every record written and counts what arrived.
type kafkaChecker struct {
	mu       sync.Mutex
	written  int // records 0..written-1 are in the topic
	counts   map[int]int
	bad      int
	problems []string
}

func (k *kafkaChecker) observe(rec *record) {
	k.mu.Lock()
	defer k.mu.Unlock()
	msg := ""
	if rec.Message != nil {
		msg = *rec.Message
	}
	seq, err := strconv.Atoi(strings.TrimPrefix(msg, "kc-"))
	switch {
	case err != nil || !strings.HasPrefix(msg, "kc-"):
		k.problemLocked("an event that was never written: %q", clip(msg))
		return
	case rec.SourceType != "nomad_logs" || rec.Stream != "stdout" || rec.Nomad.JobName != fmt.Sprintf("job-%d", seq%11) ||
		rec.Nomad.AllocID != fmt.Sprintf("alloc-%d", seq%11) || rec.Nomad.NodeID != fmt.Sprintf("n-%d", seq%5):
		k.problemLocked("record %d arrived without its metadata: %+v", seq, *rec)
	}
	k.counts[seq]++
}

func (k *kafkaChecker) problemLocked(format string, args ...any) {
	k.bad++
	if len(k.problems) < 10 {
		k.problems = append(k.problems, fmt.Sprintf(format, args...))
	}
}

func (k *kafkaChecker) fail(msg string) {
	k.mu.Lock()
	k.problemLocked("%s", msg)
	k.mu.Unlock()
}

// tally returns the records written, those that arrived at least once, the
// duplicates, and the first missing ones.
func (k *kafkaChecker) tally() (written, delivered, dups int, firstMissing []int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for seq := 0; seq < k.written; seq++ {
		n := k.counts[seq]
		if n == 0 {
			if len(firstMissing) < 10 {
				firstMissing = append(firstMissing, seq)
			}
			continue
		}
		delivered++
		dups += n - 1
	}
	return k.written, delivered, dups, firstMissing
}

// kafkaProducer writes records at rate per second until ctx ends.
func kafkaProducer(ctx context.Context, c *kfake.Cluster, chk *kafkaChecker, rate int, fail func(string)) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(kafkaTopic),
		kgo.DisableClientMetrics(), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		fail(err.Error())
		return
	}
	defer cl.Close()
	const chunk = 20
	interval := time.Duration(float64(time.Second) * chunk / float64(rate))
	next := time.Now()
	for seq := 0; ctx.Err() == nil; seq += chunk {
		rs := make([]*kgo.Record, chunk)
		for i := range rs {
			rs[i] = &kgo.Record{Key: fmt.Appendf(nil, "alloc-%d", (seq+i)%11), Value: kafkaRecord(seq + i)}
		}
		pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := cl.ProduceSync(pctx, rs...).FirstErr()
		cancel()
		if err != nil {
			fail(fmt.Sprintf("producing: %v", err))
			return
		}
		chk.mu.Lock()
		chk.written = seq + chunk
		chk.mu.Unlock()
		next = next.Add(interval)
		sleep(ctx, time.Until(next))
	}
}

// brokerFaults drops the connections of the consumer group's requests
// (fetch, commit, heartbeat, join, sync, offset fetch) while on.
type brokerFaults struct {
	mu sync.Mutex
	on bool
	n  int
}

func (b *brokerFaults) install(c *kfake.Cluster) {
	for _, key := range []kmsg.Key{kmsg.Fetch, kmsg.OffsetCommit, kmsg.Heartbeat, kmsg.JoinGroup, kmsg.SyncGroup, kmsg.OffsetFetch} {
		c.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			b.mu.Lock()
			on := b.on
			b.mu.Unlock()
			if on {
				return nil, errors.New("chaos: connection dropped"), true
			}
			return nil, nil, false
		})
	}
}

func (b *brokerFaults) set(on bool) {
	b.mu.Lock()
	b.on = on
	if on {
		b.n++
	}
	b.mu.Unlock()
}

// aggregatorConfig is one aggregator: short group timing, quick commits,
// an http sink into the receiver with a memory or a disk buffer.
func aggregatorConfig(dataDir, brokers, sinkURL, logLevel string, disk bool) string {
	buffer := "max_events = 1000"
	if disk {
		buffer = "type = \"disk\"\n    max_size = \"256MiB\""
	}
	return fmt.Sprintf(`data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }
log { level = %q }

source "kafka" "nodes" {
  brokers               = [%q]
  topics                = ["^logs-.*"]
  group_id              = "aggregators"
  session_timeout       = "2s"
  heartbeat_interval    = "300ms"
  rebalance_timeout     = "10s"
  revoke_timeout        = "3s"
  commit_interval       = "300ms"
  retry_initial_backoff = "50ms"
  retry_max_backoff     = "1s"
}

sink "http" "out" {
  inputs   = ["nodes"]
  uri      = %q
  encoding = "ndjson"
  batch {
    max_events = 500
    timeout    = "50ms"
  }
  request {
    timeout               = "2s"
    retry_initial_backoff = "50ms"
    retry_max_backoff     = "1s"
  }
  buffer {
    %s
  }
}
`, dataDir, logLevel, brokers, sinkURL, buffer)
}

// TestChaosKafka runs the kafka mode for CHAOS_DURATION of faults.
func TestChaosKafka(t *testing.T) {
	o := optionsFromEnv(t)
	rate, aggregators := 300, 3
	for name, p := range map[string]*int{"CHAOS_KAFKA_RATE": &rate, "CHAOS_KAFKA_AGGREGATORS": &aggregators} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive number", name, v)
			}
			*p = n
		}
	}
	t.Logf("chaos kafka: seed %d, %v of faults, %d aggregators, %d records/s; replay with CHAOS_SEED=%d CHAOS_DURATION=%v",
		o.seed, o.duration, aggregators, rate, o.seed, o.duration)
	work, err := os.MkdirTemp("", "drover-chaos-kafka-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("CHAOS_KEEP") == "1" {
			t.Logf("chaos kafka: the configurations, drover's logs and events.log are kept in %s", work)
			return
		}
		_ = os.RemoveAll(work)
	})
	events, err := newEventLog(filepath.Join(work, "events.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer events.close()
	logLevel := "info"
	if v := os.Getenv("CHAOS_LOG_LEVEL"); v != "" {
		logLevel = v
	}

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(kafkaPartitions, kafkaTopic), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	broker := &brokerFaults{}
	broker.install(c)
	chk := &kafkaChecker{counts: map[int]int{}}
	recv, err := newReceiver(chk.observe, chk.fail)
	if err != nil {
		t.Fatal(err)
	}
	defer recv.close()

	sups := make([]*supervisor, aggregators)
	cfgs := make([]string, aggregators)
	for i := range sups {
		dir := filepath.Join(work, fmt.Sprintf("aggregator-%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		sups[i] = newSupervisor(droverBin, dir)
		slot := i
		sups[i].logf = func(format string, args ...any) {
			events.logf("aggregator %d: "+format, append([]any{slot}, args...)...)
		}
		cfgs[i] = aggregatorConfig(filepath.Join(dir, "data"), strings.Join(c.ListenAddrs(), `", "`), recv.url(), logLevel, i%2 == 1)
		if err := sups[i].start(cfgs[i]); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sups[slot].kill() })
	}

	pctx, stopProducing := context.WithCancel(context.Background())
	produced := make(chan struct{})
	go func() { defer close(produced); kafkaProducer(pctx, c, chk, rate, chk.fail) }()

	// The fault phase: a killer per aggregator, the sink's faults (as in
	// the file mode), the broker's.
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	var wg sync.WaitGroup
	for i, sup := range sups {
		rng := rand.New(rand.NewPCG(o.seed, uint64(200+i)))
		wg.Go(func() { kafkaKiller(ctx, rng, sup, cfgs[i], chk.fail, events.logf) })
	}
	sf := &faults{o: faultOptions{sinkEvery: 5 * time.Second}, recv: recv, fail: chk.fail, logf: events.logf}
	wg.Go(func() { sf.sink(ctx, rand.New(rand.NewPCG(o.seed, 101))) })
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(o.seed, 300))
		for sleep(ctx, expDuration(rng, 8*time.Second)) {
			d := uniform(rng, 200*time.Millisecond, 4*time.Second)
			events.logf("broker fault for %v", d)
			broker.set(true)
			sleep(ctx, d)
			broker.set(false)
			events.logf("broker fault over")
		}
	})
	wg.Wait()
	cancel()
	if err := recv.setMode(sinkMode{}); err != nil {
		t.Fatal(err)
	}
	broker.set(false)
	stopProducing()
	<-produced

	// Liveness: every aggregator runs again, and every record arrives.
	catchUpFrom := time.Now()
	for i, sup := range sups {
		if !sup.running() {
			if err := sup.start(cfgs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	liveness := 60*time.Second + o.duration/10
	deadline := time.Now().Add(liveness)
	for {
		written, delivered, _, first := chk.tally()
		if delivered == written {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the aggregators did not catch up within %v after the faults stopped: %d of %d records missing, the first %v",
				liveness, written-delivered, written, first)
		}
		time.Sleep(500 * time.Millisecond)
	}
	catchUp := time.Since(catchUpFrom)
	for i, sup := range sups {
		if code, err := sup.stop(30 * time.Second); err != nil || code != 0 {
			t.Errorf("aggregator %d stopped with exit code %d, %v", i, code, err)
		}
	}

	written, delivered, dups, firstMissing := chk.tally()
	var kills, stops int
	var alarms, crashes []string
	for _, sup := range sups {
		k, s, _, cr := sup.counts()
		kills, stops, crashes = kills+k, stops+s, append(crashes, cr...)
		_, al, err := sup.scanLogs()
		if err != nil {
			t.Fatal(err)
		}
		alarms = append(alarms, al...)
	}
	requests, _ := recv.stats()
	summary := fmt.Sprintf("chaos kafka summary: seed=%d duration=%v aggregators=%d partitions=%d written=%d delivered=%d lost=%d "+
		"duplicated=%d bad=%d requests=%d kills=%d stops=%d sink_outages=%d broker_faults=%d catch_up=%v",
		o.seed, o.duration, aggregators, kafkaPartitions, written, delivered, written-delivered, dups, chk.bad, requests,
		kills, stops, sf.sinkOutages, broker.n, catchUp.Round(100*time.Millisecond))
	t.Log(summary)
	if path := os.Getenv("CHAOS_SUMMARY"); path != "" {
		if err := os.WriteFile(path, []byte(summary+"\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, c := range crashes {
		t.Errorf("%s", c)
	}
	for _, a := range alarms {
		t.Errorf("drover reported: %s", a)
	}
	for _, p := range chk.problems {
		t.Errorf("%s", p)
	}
	if written != delivered {
		t.Errorf("%d records lost; the first: %v", written-delivered, firstMissing)
	}
	if kills < o.minKills {
		t.Errorf("%d SIGKILLs, fewer than CHAOS_MIN_KILLS=%d", kills, o.minKills)
	}
	if written == 0 {
		t.Error("nothing written")
	}
}

// kafkaKiller ends one aggregator now and then, with SIGKILL (one time in
// ten SIGTERM), and starts it again after a pause that is now and then
// long (the group works with one member fewer meanwhile).
func kafkaKiller(ctx context.Context, rng *rand.Rand, sup *supervisor, cfg string, fail func(string), logf func(string, ...any)) {
	for {
		if !sleep(ctx, expDuration(rng, 6*time.Second)) {
			return
		}
		// SIGTERM only to a process that is up: drover installs its
		// handler once it started, and a SIGTERM before that ends it as
		// SIGKILL would.
		if rng.IntN(10) == 0 && sup.upFor(5*time.Second) {
			if code, err := sup.stop(30 * time.Second); err != nil || code != 0 {
				fail(fmt.Sprintf("aggregator stopped with SIGTERM: exit code %d, %v", code, err))
			}
		} else {
			sup.kill()
		}
		down := uniform(rng, 0, time.Second)
		if rng.IntN(4) == 0 {
			down = uniform(rng, 2*time.Second, 10*time.Second)
			logf("down for %v", down)
		}
		sleep(ctx, down)
		if ctx.Err() != nil {
			return // the caller starts it for the catch-up
		}
		if err := sup.start(cfg); err != nil {
			fail(err.Error())
			return
		}
	}
}
