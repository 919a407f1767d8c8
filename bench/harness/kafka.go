package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/drover-dev/drover/bench/gen"
	"github.com/drover-dev/drover/bench/proc"
	"github.com/drover-dev/drover/bench/recv"
	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/event"
)

// kafkaTopic is the topic of the kafka scenarios.
const kafkaTopic = "logs-bench"

// aggregatorConfig is the configuration of one aggregator: a kafka source
// with its defaults and an http sink with its defaults.
func aggregatorConfig(dataDir, brokers, recvURL string, pprof bool) string {
	return fmt.Sprintf(`data_dir = %q

admin {
  address = "127.0.0.1:0"
  pprof   = %t
}

source "kafka" "nodes" {
  brokers  = [%q]
  topics   = [%q]
  group_id = "bench"
}

sink "http" "out" {
  inputs = ["nodes"]
  uri    = %q
}
`, dataDir, pprof, brokers, kafkaTopic, recvURL+"/ingest")
}

// streamMetas are the node agent's metadata of each stream, as the
// nomad_logs source builds it.
func streamMetas(l *gen.Layout) []*event.Meta {
	out := make([]*event.Meta, len(l.Streams))
	for i, st := range l.Streams {
		a := l.Allocs[st.Alloc]
		out[i] = event.NewMeta("tasks", event.NewFields(
			event.Field{Key: "source_type", Value: event.StringValue("nomad_logs")},
			event.Field{Key: "host", Value: event.StringValue("bench-node")},
			event.Field{Key: "stream", Value: event.StringValue(st.Name)},
			event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
				event.Field{Key: "namespace", Value: event.StringValue(a.Namespace)},
				event.Field{Key: "job_name", Value: event.StringValue(a.Job)},
				event.Field{Key: "group_name", Value: event.StringValue(a.Group)},
				event.Field{Key: "task_name", Value: event.StringValue(gen.Task)},
				event.Field{Key: "alloc_id", Value: event.StringValue(a.ID)},
				event.Field{Key: "alloc_index", Value: event.IntValue(int64(a.Index))},
			))},
		))
	}
	return out
}

// fillTopic writes at least backlog bytes of generator lines to the topic,
// each as the event a node agent's kafka sink produces (keyed by
// allocation), round robin over the streams. It returns the lines per
// stream and the bytes of the lines (with a newline each, as the file
// scenarios count them).
func fillTopic(ctx context.Context, c *kfake.Cluster, l *gen.Layout, backlog int64) ([]uint64, int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(kafkaTopic),
		kgo.DisableClientMetrics(), kgo.ProducerLinger(10*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	metas := streamMetas(l)
	lines := make([]uint64, len(l.Streams))
	var written int64
	ts := time.Now().UnixNano()
	var line []byte
	next := 0
	for written < backlog {
		rs := make([]*kgo.Record, 0, 1000)
		for i := 0; i < 1000 && written < backlog; i++ {
			sid := next % len(l.Streams)
			next++
			line = gen.AppendLine(line[:0], sid, lines[sid], ts)
			e := event.Event{Timestamp: time.Unix(0, ts).UTC(), Message: line, Meta: metas[sid]}
			rs = append(rs, &kgo.Record{Key: []byte(l.Allocs[l.Streams[sid].Alloc].ID), Value: codec.AppendJSON(nil, &e)})
			lines[sid]++
			written += int64(len(line)) + 1
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			return nil, 0, fmt.Errorf("filling the topic: %w", err)
		}
	}
	return lines, written, nil
}

// runKafka runs a kafka scenario: the topic is filled first, then
// s.Aggregators drover processes in one consumer group read it into the
// receiver. The measurement starts once every partition is assigned (the
// records the first members read while the others joined are left out of
// it) and ends with the last line's arrival.
func runKafka(ctx context.Context, o Options, s Scenario, dir string) (res Result, err error) {
	res.Scenario = s
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(s.Partitions, kafkaTopic))
	if err != nil {
		return res, err
	}
	defer c.Close()
	layout := gen.NewLayout(filepath.Join(dir, "alloc"), s.Streams)
	t0 := time.Now()
	perStream, bytes, err := fillTopic(ctx, c, layout, s.Backlog)
	if err != nil {
		return res, err
	}
	var total uint64
	for _, n := range perStream {
		total += n
	}
	o.logf("  wrote %s of lines (%d records) to %d partitions in %.1fs", size(bytes), total, s.Partitions, time.Since(t0).Seconds())

	allocIDs := make([]string, s.Streams)
	for i, st := range layout.Streams {
		allocIDs[i] = layout.Allocs[st.Alloc].ID
	}
	rcv := recv.New(recv.Options{Streams: s.Streams, AllocIDs: allocIDs, CheckEvery: o.CheckEvery})
	rs, err := recv.Start("127.0.0.1:0", rcv)
	if err != nil {
		return res, err
	}
	defer rs.Close()

	res.Load, _ = proc.LoadAverage()
	var procs []*process
	defer func() {
		for _, p := range procs {
			if p != nil {
				p.kill()
			}
		}
	}()
	for i := range s.Aggregators {
		adir := filepath.Join(dir, fmt.Sprintf("aggregator-%d", i))
		if err := os.MkdirAll(adir, 0o755); err != nil {
			return res, err
		}
		cfg := filepath.Join(adir, "drover.hcl")
		text := aggregatorConfig(filepath.Join(adir, "data"), strings.Join(c.ListenAddrs(), `", "`), rs.URL(), o.ProfileDir != "")
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			return res, err
		}
		p, err := startDrover(ctx, o.Bin, cfg, filepath.Join(adir, "drover.log"))
		if err != nil {
			return res, err
		}
		procs = append(procs, p)
	}
	// The group is settled when every partition is assigned, to every
	// member a share.
	deadline := time.Now().Add(60 * time.Second)
	for {
		sum, each := 0.0, true
		for _, p := range procs {
			n, err := p.metric("drover_kafka_assigned_partitions")
			if err != nil {
				return res, err
			}
			sum += n
			each = each && n > 0
		}
		if sum == float64(s.Partitions) && each {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("the consumer group did not settle within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	base := rcv.Stats().Lines
	cpu0 := make([]time.Duration, len(procs))
	for i, p := range procs {
		smp, err := proc.Read(p.Pid())
		if err != nil {
			return res, err
		}
		cpu0[i] = smp.CPU
	}
	self0, err := proc.Read(os.Getpid())
	if err != nil {
		return res, err
	}
	if err := waitAll(ctx, rcv, total); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	for i, p := range procs {
		smp, err := proc.Read(p.Pid())
		if err != nil {
			return res, err
		}
		res.CPU += smp.CPU - cpu0[i]
		res.PeakRSS = max(res.PeakRSS, smp.PeakRSS)
	}
	st := rcv.Stats()
	res.Elapsed = st.Last.Sub(start)
	res.CPUWindow = time.Since(start)
	if self, err := proc.Read(os.Getpid()); err == nil {
		res.HarnessCPU = self.CPU - self0.CPU
	}
	// The lines and bytes of the measured window.
	res.Lines = total - base
	res.Bytes = int64(float64(bytes) * float64(res.Lines) / float64(total))
	if base > 0 {
		o.logf("  %d of %d lines arrived while the group settled; measured the other %d", base, total, res.Lines)
	}
	for _, p := range procs {
		for _, m := range []string{"drover_component_errors_total", "drover_component_discarded_events_total"} {
			if v, err := p.metric(m); err != nil {
				res.Problems = append(res.Problems, err.Error())
			} else if v > 0 {
				res.Problems = append(res.Problems, fmt.Sprintf("%s = %g", m, v))
			}
		}
	}
	for i, p := range procs {
		if err := p.stop(); err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
		procs[i] = nil
	}
	res.Received = rcv.Stats()
	res.Problems = append(res.Problems, verify(res.Received, perStream)...)
	return res, nil
}
