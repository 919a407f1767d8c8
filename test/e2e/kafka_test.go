package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaCluster is a kfake cluster in the test process whose produce
// requests can be answered with an error code.
type kafkaCluster struct {
	*kfake.Cluster
	mu         sync.Mutex
	produceErr int16
	refused    int
}

func newKafkaCluster(t *testing.T, topic string, partitions int32) *kafkaCluster {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	c := &kafkaCluster{Cluster: kc}
	kc.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		c.mu.Lock()
		code := c.produceErr
		if code != 0 {
			c.refused++
		}
		c.mu.Unlock()
		if code == 0 {
			return nil, nil, false
		}
		preq := req.(*kmsg.ProduceRequest)
		resp := preq.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range preq.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return c
}

func (c *kafkaCluster) setProduceError(code int16) { c.mu.Lock(); c.produceErr = code; c.mu.Unlock() }

func (c *kafkaCluster) refusedRequests() int { c.mu.Lock(); defer c.mu.Unlock(); return c.refused }

// kafkaReader consumes a topic from its start in the background.
type kafkaReader struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	records []*kgo.Record
	counts  map[string]int
}

func newKafkaReader(t *testing.T, c *kafkaCluster, topic string) *kafkaReader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DisableClientMetrics(),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &kafkaReader{cl: cl, cancel: cancel, done: make(chan struct{}), counts: map[string]int{}}
	go func() {
		defer close(r.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(rec *kgo.Record) {
				var v struct {
					Message string `json:"message"`
				}
				if err := json.Unmarshal(rec.Value, &v); err != nil {
					t.Errorf("record value %q: %v", rec.Value, err)
				}
				r.mu.Lock()
				r.records = append(r.records, rec)
				r.counts[v.Message]++
				r.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-r.done; cl.Close() })
	return r
}

func (r *kafkaReader) hasAll(want []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range want {
		if r.counts[m] == 0 {
			return false
		}
	}
	return true
}

func (r *kafkaReader) snapshot() ([]*kgo.Record, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	counts := make(map[string]int, len(r.counts))
	for k, v := range r.counts {
		counts[k] = v
	}
	return append([]*kgo.Record(nil), r.records...), counts
}

func fileToKafka(dataDir, include string, brokers []string) string {
	return fmt.Sprintf(`
data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }
log { level = "debug" }

source "file" "logs" {
  include = [%q]
}

sink "kafka" "out" {
  inputs                = ["logs"]
  brokers               = [%q]
  topic                 = "logs-{{ source_type }}"
  key                   = "{{ file }}"
  headers               = { "host" = "{{ host }}" }
  compression           = "zstd"
  delivery_timeout      = "1s"
  retry_initial_backoff = "50ms"
  retry_max_backoff     = "500ms"
  healthcheck { required = true }
}
`, dataDir, include, strings.Join(brokers, `", "`))
}

// TestKafkaSink runs drover from a file source into a kfake cluster: every
// line arrives once, in order per file (the key), with its header; a
// period of broker errors longer than delivery_timeout delays delivery
// without loss or duplicates; a restart resumes where drover stopped.
func TestKafkaSink(t *testing.T) {
	const topic = "logs-file"
	c := newKafkaCluster(t, topic, 3)
	reader := newKafkaReader(t, c, topic)

	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	files := []string{filepath.Join(logDir, "a.log"), filepath.Join(logDir, "b.log")}
	cfg := writeConfig(t, base, fileToKafka(filepath.Join(base, "data"), logDir+"/*.log", c.ListenAddrs()))

	var want []string
	write := func(from, to int) {
		for i, f := range files {
			lines := numbered(fmt.Sprintf("k%d", i), from, to)
			appendLines(t, f, lines...)
			want = append(want, lines...)
		}
	}
	write(0, 2000)
	d := startDrover(t, cfg)
	waitUntil(t, 30*time.Second, "the first lines in Kafka", func() bool { return reader.hasAll(want) })

	// The brokers refuse produce requests for longer than delivery_timeout.
	c.setProduceError(kerr.NotEnoughReplicas.Code)
	write(2000, 3000)
	waitUntil(t, 30*time.Second, "records to time out and be retried", func() bool {
		return d.metric("drover_component_errors_total", `component_type="kafka"`, `stage="send"`) > 0 &&
			d.metric("drover_component_retries_total", `component_type="kafka"`) > 0
	})
	if refused := c.refusedRequests(); refused == 0 {
		t.Fatal("no produce request was refused")
	}
	c.setProduceError(0)
	waitUntil(t, 30*time.Second, "the lines written during the broker errors", func() bool { return reader.hasAll(want) })
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}

	write(3000, 3100)
	d = startDrover(t, cfg)
	waitUntil(t, 30*time.Second, "the lines written while drover was stopped", func() bool { return reader.hasAll(want) })
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}

	records, counts := reader.snapshot()
	if len(records) != len(want) || len(counts) != len(want) {
		t.Fatalf("%d records, %d unique, want %d exactly once", len(records), len(counts), len(want))
	}
	host, _ := os.Hostname()
	last := map[string]string{}
	for _, rec := range records {
		var v map[string]any
		json.Unmarshal(rec.Value, &v)
		msg, file := v["message"].(string), v["file"].(string)
		if string(rec.Key) != file || !strings.HasPrefix(file, logDir) {
			t.Fatalf("record %q: key %q, file %q", msg, rec.Key, file)
		}
		if len(rec.Headers) != 1 || rec.Headers[0].Key != "host" || string(rec.Headers[0].Value) != host {
			t.Fatalf("record %q: headers %v", msg, rec.Headers)
		}
		if msg <= last[file] {
			t.Fatalf("file %s: %q arrived after %q", file, msg, last[file])
		}
		last[file] = msg
	}
}
