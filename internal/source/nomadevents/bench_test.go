package nomadevents

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

// BenchmarkDecodeAndBuild decodes every frame of the captures and builds
// drover events from them, as the source does for each stream line: copy
// the line, decode it, de-duplicate, build the events. It reports
// allocations and time per event.
func BenchmarkDecodeAndBuild(b *testing.B) {
	lines := allCaptureLines(b)
	var f frame
	events, size := 0, 0
	for _, l := range lines {
		if err := decodeFrame(l, &f); err != nil {
			b.Fatal(err)
		}
		events += len(f.events)
		size += len(l)
	}
	meta := newMeta("bench", "host")
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	for b.Loop() {
		for _, l := range lines {
			line := bytes.Clone(l)
			if err := decodeFrame(line, &f); err != nil {
				b.Fatal(err)
			}
			g := newGate(Cursor{})
			evs := make([]event.Event, 0, len(f.events))
			now := time.Now()
			for i := range f.events {
				ev := &f.events[i]
				if !g.accept(ev.index, identity(ev)) {
					continue
				}
				evs = append(evs, event.Event{})
				buildEvent(&evs[len(evs)-1], ev, meta, now, false)
			}
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	total := float64(events) * float64(b.N)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/total, "allocs/event")
	b.ReportMetric(float64(elapsed.Nanoseconds())/total, "ns/event")
}
