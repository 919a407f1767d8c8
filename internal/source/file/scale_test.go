package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestThousandOpenFilesStayCheap(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1000 files")
	}
	dir := t.TempDir()
	const n = 1000
	for i := 0; i < n; i++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%04d.log", i)), fmt.Sprintf("line of %d\n", i))
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	h := newHarness(t, t.TempDir(), testConfig(filepath.Join(dir, "*.log")), newRecorder()).start()
	defer h.stop()
	waitFor(t, "all lines", func() bool { return h.rec.total() == n })
	if got := testutil.ToFloat64(h.m.FilesOpen); got != n {
		t.Fatalf("files_open = %v", got)
	}
	// Drop what the recorder keeps, then measure what the source holds.
	h.rec.mu.Lock()
	h.rec.batches, h.rec.lines, h.rec.metas = nil, map[string][]line{}, map[string]*event.Meta{}
	h.rec.mu.Unlock()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perFile := (int64(after.HeapInuse) - int64(before.HeapInuse)) / n
	t.Logf("heap in use per open file: %d bytes", perFile)
	if perFile > 16<<10 {
		t.Fatalf("%d bytes of heap per open idle file", perFile)
	}
	// Appending to one file among many is still seen promptly.
	p := filepath.Join(dir, "f0500.log")
	start := time.Now()
	appendFile(t, p, "more\n")
	waitLines(t, h.rec, p, []string{"more"})
	t.Logf("new line in one of %d files after %v", n, time.Since(start))
}

// countingEmitter acknowledges every batch at once and counts events.
type countingEmitter struct{ events atomic.Int64 }

func (c *countingEmitter) Emit(_ context.Context, b *event.Batch) error {
	c.events.Add(int64(len(b.Events)))
	b.Ack.Retain(1)
	b.Ack.Release(event.Delivered)
	return nil
}

// BenchmarkSourceEndToEnd measures the whole source: discovery, reading,
// framing, emitting and acknowledging, over 4 files of ~25 MB.
func BenchmarkSourceEndToEnd(b *testing.B) {
	dir := b.TempDir()
	const files, lines = 4, 250000
	var total int64
	for f := 0; f < files; f++ {
		p := filepath.Join(dir, fmt.Sprintf("f%d.log", f))
		w, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < lines; i++ {
			n, _ := fmt.Fprintf(w, `{"level":"info","ts":"2024-05-01T12:00:00Z","msg":"request served","status":200,"n":%08d}`+"\n", i)
			total += int64(n)
		}
		w.Close()
	}
	b.SetBytes(total)
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg := NewConfig()
		cfg.Include = []string{filepath.Join(dir, "*.log")}
		cfg.UseFsnotify = false
		src, err := New(component.Context{ID: "bench", DataDir: b.TempDir(), Metrics: metrics.ForTest("source", "file", "bench")}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		em := &countingEmitter{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { src.Run(ctx, em); close(done) }()
		for em.events.Load() < files*lines {
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-done
		src.Close(context.Background())
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N*files*lines), "allocs/line")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*files*lines), "ns/line")
}
