package nomadlogs

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/nomadtest"
)

// BenchmarkDiscoveryLatency measures how long the first line of a new
// allocation takes from being written to being emitted, as on a client:
// the allocation is placed (the API lists it), its directories are
// created, and its task writes a line into a new log file. The node keeps
// about nodeAllocs allocations: the oldest is garbage-collected as a new
// one starts (every change of the node's list makes the watch read all of
// it). It reports the 50th and 99th percentiles over b.N allocations, with
// the default timings (scan_interval 1s, fsnotify on).
//
//	go test -run '^$' -bench DiscoveryLatency -benchtime 200x ./internal/source/nomadlogs/
func BenchmarkDiscoveryLatency(b *testing.B) {
	h := newHarness(b, nil)
	h.cfg = NewConfig()
	h.cfg.Nomad.Address = h.srv.URL()
	h.start()
	waitFor(b, "the first watch", func() bool { return h.srv.Blocking() > 0 })
	const nodeAllocs = 20
	var live []string
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(live) == nodeAllocs {
			h.gc(live[0])
			live = live[1:]
		}
		id := nomadtest.NewID()
		live = append(live, id)
		h.srv.AddAlloc(nomadtest.Alloc{ID: id})
		dir := h.makeAllocDir(id, nil)
		msg := fmt.Sprintf("first line of allocation %d", i)
		lm := newLogmon(b, dir, "app", nomad.Stdout, 1<<20, 0)
		written := time.Now()
		lm.Write([]byte(msg + "\n"))
		waitFor(b, "the line", func() bool { return h.rec.count(msg) > 0 })
		e, _ := h.rec.find(msg)
		lat = append(lat, e.at.Sub(written))
	}
	b.StopTimer()
	if testing.Verbose() {
		b.Logf("%d of %d allocations had their files found before the watch reported them",
			h.logs.count("looking it up"), b.N)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkThroughput measures how fast the source reads the files of many
// allocations (written beforehand, rotated every 1 MiB) into batches that
// are acknowledged at once: b.N lines of 100 bytes over 50 allocations x
// 2 streams. It reports MB/s of log lines, and allocations per line from
// the first batch on (discovery and the fake Nomad API come before).
//
//	go test -run '^$' -bench Throughput -benchtime 2000000x ./internal/source/nomadlogs/
func BenchmarkThroughput(b *testing.B) {
	h := newHarness(b, nil)
	h.cfg = NewConfig()
	h.cfg.Nomad.Address = h.srv.URL()
	const allocs = 50
	line := []byte(strings.Repeat("x", 99) + "\n")
	var last []string
	perStream := b.N/(allocs*2) + 1
	chunk := bytes.Repeat(line, perStream)
	for i := 0; i < allocs; i++ {
		id := h.addAlloc(nomadtest.Alloc{})
		dir := nomad.LogsDir(h.allocDir, id)
		for _, s := range nomad.Streams {
			lm := newLogmon(b, dir, "app", s, 1<<20, 0)
			lm.Write(chunk)
			last = append(last, lm.Lines("last-"+id+"-"+string(s), 0, 1, 0)...)
		}
	}
	out := &countingEmitter{}
	h.out = out
	b.SetBytes(int64(len(line)))
	total := len(last) + allocs*2*perStream
	var ms0, ms1 runtime.MemStats
	out.onFirst = func() { runtime.ReadMemStats(&ms0) }
	b.ResetTimer()
	h.start()
	waitFor(b, "every stream read", func() bool { return out.events.Load() == int64(total) })
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(total), "allocs/line")
}

// countingEmitter counts the events and acknowledges every batch at once.
// onFirst, if set, is called at the first batch.
type countingEmitter struct {
	events  atomic.Int64
	first   sync.Once
	onFirst func()
}

func (c *countingEmitter) Emit(_ context.Context, b *event.Batch) error {
	if c.onFirst != nil {
		c.first.Do(c.onFirst)
	}
	c.events.Add(int64(len(b.Events)))
	b.Ack.Retain(1)
	b.Ack.Release(event.Delivered)
	return nil
}
