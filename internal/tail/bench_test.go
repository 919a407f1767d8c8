package tail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/event"
)

// benchInput returns n lines of about 100 bytes.
func benchInput(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"level":"info","ts":"2024-05-01T12:00:00Z","msg":"request served","status":200,"n":%08d}`+"\n", i)
	}
	return b.Bytes()
}

func BenchmarkFramer(b *testing.B) {
	input := benchInput(10000)
	lines := bytes.Count(input, []byte{'\n'})
	f := NewFramer(DefaultMaxLineBytes)
	const chunk = 64 << 10
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for off := 0; off < len(input); off += chunk {
			data := input[off:min(off+chunk, len(input))]
			for len(data) > 0 {
				_, _, n, _ := f.Next(data)
				data = data[n:]
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}

// BenchmarkReadFile reads a 100 MB-ish file end to end into acknowledged
// batches, as a source does.
func BenchmarkReadFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.log")
	input := benchInput(200000)
	lines := bytes.Count(input, []byte{'\n'})
	if err := os.WriteFile(path, input, 0o644); err != nil {
		b.Fatal(err)
	}
	meta := event.NewMeta("bench", event.NewFields(event.Field{Key: "file", Value: event.StringValue(path)}))
	buf := make([]byte, 128<<10)
	in := checkpoint.NewInflight(nil)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	batches := 0
	for i := 0; i < b.N; i++ {
		r, err := Open(path, Options{Meta: meta, Inflight: in})
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for {
			bt, _, err := r.Read(buf, time.Unix(1, 0))
			if bt != nil {
				got += len(bt.Events)
				batches++
				bt.Ack.Release(event.Delivered)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if got != lines {
			b.Fatalf("%d lines, want %d", got, lines)
		}
		r.Close()
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N*lines), "allocs/line")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
	b.ReportMetric(float64(lines*b.N)/float64(batches), "lines/batch")
}
