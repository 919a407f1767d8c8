package disk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

// Benchmarks (see docs/components/buffer-disk.md for numbers):
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/buffer/disk/
//
// Batches are 500 events of about 200 bytes, as a file source emits them;
// MiB/s counts record bytes (encoded batches, as written to disk).

func benchBatch(n int) *event.Batch {
	meta := event.NewMeta("bench", event.NewFields(
		event.Field{Key: "file", Value: event.StringValue("/var/lib/nomad/alloc/0d9c/alloc/logs/web.stdout.3")},
		event.Field{Key: "host", Value: event.StringValue("node-17")},
		event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "job_name", Value: event.StringValue("web")},
			event.Field{Key: "alloc_id", Value: event.StringValue("0d9c6a2e-5b7f-4c1e-9a57-3c1de2b8c0a1")},
		))},
	))
	evs := make([]event.Event, n)
	pad := strings.Repeat("lorem ipsum dolor ", 10)
	for i := range evs {
		evs[i] = event.Event{Timestamp: time.Now(), Message: []byte(fmt.Sprintf("%d level=info msg=%q", i, pad)), Meta: meta}
	}
	return &event.Batch{Events: evs}
}

func recordSize(bt *event.Batch) int64 {
	var e encoder
	return int64(len(e.appendRecord(nil, bt.Events, time.Now())))
}

func openBench(b *testing.B, dir string, fsync time.Duration) *Buffer {
	buf, err := Open(Options{Dir: dir, Limits: Limits{MaxSize: 8 << 30, FsyncInterval: fsync}, Logger: discardLogger})
	if err != nil {
		b.Fatal(err)
	}
	return buf
}

func reportMiBs(b *testing.B, bytes int64) {
	b.ReportMetric(float64(bytes)/(1<<20)/b.Elapsed().Seconds(), "MiB/s")
}

// pushAll pushes n copies of tmpl and waits until every one is acknowledged
// upstream (durable).
func pushAll(b *testing.B, buf *Buffer, tmpl *event.Batch, n int) {
	acked := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		bt := &event.Batch{Events: tmpl.Events, Ack: event.NewAck(func(bool) { acked <- struct{}{} })}
		if err := buf.Push(context.Background(), bt); err != nil {
			b.Fatal(err)
		}
		bt.Ack.Release(event.Delivered)
	}
	for i := 0; i < n; i++ {
		<-acked
	}
}

func benchmarkWrite(b *testing.B, fsync time.Duration) {
	buf := openBench(b, b.TempDir(), fsync)
	defer buf.Close()
	tmpl := benchBatch(500)
	size := recordSize(tmpl)
	b.SetBytes(size)
	b.ResetTimer()
	pushAll(b, buf, tmpl, b.N)
	b.StopTimer()
	reportMiBs(b, size*int64(b.N))
}

// BenchmarkWrite: Push until durable, default fsync policy (at most every
// 500 ms).
func BenchmarkWrite(b *testing.B) { benchmarkWrite(b, 500*time.Millisecond) }

// BenchmarkWriteFsyncEachGroup: fsync_interval = 0, an fsync after every
// write group.
func BenchmarkWriteFsyncEachGroup(b *testing.B) { benchmarkWrite(b, 0) }

// BenchmarkRead: Next and acknowledge everything of a filled buffer.
func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	buf := openBench(b, dir, 500*time.Millisecond)
	tmpl := benchBatch(500)
	size := recordSize(tmpl)
	pushAll(b, buf, tmpl, b.N)
	buf.Close()
	buf = openBench(b, dir, 500*time.Millisecond)
	defer buf.Close()
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bt, err := buf.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		bt.Ack.Release(event.Delivered)
	}
	b.StopTimer()
	reportMiBs(b, size*int64(b.N))
}

// BenchmarkOpenVerify: Open of a buffer holding 64 MiB, which reads and
// checks every record.
func BenchmarkOpenVerify(b *testing.B) {
	dir := b.TempDir()
	buf := openBench(b, dir, 500*time.Millisecond)
	tmpl := benchBatch(500)
	size := recordSize(tmpl)
	n := int((64 << 20) / size)
	pushAll(b, buf, tmpl, n)
	buf.Close()
	b.SetBytes(size * int64(n))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf := openBench(b, dir, 500*time.Millisecond)
		buf.Close()
	}
	b.StopTimer()
	reportMiBs(b, size*int64(n)*int64(b.N))
}

// BenchmarkFsync is the cost of one fsync after a 1 MiB write on the file
// system of the test's temporary directory: what fsync_interval = 0 pays per
// write group.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "f"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	data := make([]byte, 1<<20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode and BenchmarkDecode are the codec alone.
func BenchmarkEncode(b *testing.B) {
	tmpl := benchBatch(500)
	var e encoder
	buf := make([]byte, 0, 256<<10)
	b.SetBytes(recordSize(tmpl))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = e.appendRecord(buf[:0], tmpl.Events, time.Now())
	}
}

func BenchmarkDecode(b *testing.B) {
	tmpl := benchBatch(500)
	var e encoder
	rec := e.appendRecord(nil, tmpl.Events, time.Now())
	cache := newMetaCache()
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := decodeBatch(rec[recordHeaderLen:], cache); err != nil {
			b.Fatal(err)
		}
	}
}
