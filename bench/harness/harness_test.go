package harness

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// droverBin builds drover, or takes DROVER_BENCH_BIN.
func droverBin(t *testing.T) string {
	if bin := os.Getenv("DROVER_BENCH_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "drover")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/drover-dev/drover/cmd/drover")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building drover: %v\n%s", err, out)
	}
	return bin
}

// TestRunSmallScenarios runs a backlog to the http sink and a fixed rate
// with rotation and purge to the Loki sink through the real binary.
func TestRunSmallScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs drover")
	}
	o := Options{Bin: droverBin(t), WorkDir: t.TempDir(), CheckEvery: 1}
	var results []Result
	for _, s := range []Scenario{
		{Name: "small-backlog", Streams: 3, Sink: "http", Backlog: 2 * MiB, MaxFileSize: 256 << 10},
		// A JSON stream through parse, filter and route: every line still
		// arrives once, in order, its fields those of the line written
		// (parsed, the line's msg the message; or kept whole).
		{Name: "small-transforms", Streams: 1, Sink: "http", Backlog: 2 * MiB, MaxFileSize: 256 << 10, Transforms: true},
		{Name: "small-transforms-keep", Streams: 1, Sink: "http", Backlog: 2 * MiB, MaxFileSize: 256 << 10, Transforms: true, KeepOriginal: true},
		{Name: "small-rate", Streams: 4, Sink: "loki", Rate: 512 << 10, Duration: 2 * time.Second,
			Idle: time.Second, MaxFileSize: 128 << 10, MaxFiles: 2},
		// Kubernetes containers: CRI lines (long ones split into P
		// records) rotated by the kubelet, shipped by kubernetes_logs.
		{Name: "small-kube", Streams: 3, Sink: "http", Backlog: 2 * MiB, MaxFileSize: 256 << 10, Kubernetes: true},
		{Name: "small-kube-rate", Streams: 4, Sink: "http", Rate: 512 << 10, Duration: 2 * time.Second,
			MaxFileSize: 128 << 10, MaxFiles: 3, Kubernetes: true},
		// Allocations that start while drover runs: 3 of 5, each writing
		// one line per stream, found and delivered.
		{Name: "small-new-alloc", Streams: 10, Sink: "http", MaxFileSize: 128 << 10, MaxFiles: 2,
			NewAllocs: 3, NewAllocEvery: 100 * time.Millisecond},
	} {
		r, err := Run(context.Background(), o, s)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if len(r.Problems) > 0 {
			t.Errorf("%s: %v", s.Name, r.Problems)
		}
		if r.Lines == 0 || r.Received.Lines != r.Lines || r.Received.Checked != r.Lines || r.CPU <= 0 || r.PeakRSS <= 0 || r.Elapsed <= 0 {
			t.Errorf("%s: %+v", s.Name, r)
		}
		timed := s.Rate > 0 || s.NewAllocs > 0
		if timed != (r.Latencies > 0) || (timed && (r.P50 <= 0 || r.P99 < r.P50)) {
			t.Errorf("%s: latencies p50 %v p99 %v of %d", s.Name, r.P50, r.P99, r.Latencies)
		}
		if s.Idle > 0 && r.IdleRSS <= 0 {
			t.Errorf("%s: idle RSS %d", s.Name, r.IdleRSS)
		}
		if _, err := os.Stat(filepath.Join(o.WorkDir, s.Name)); !os.IsNotExist(err) {
			t.Errorf("%s: work directory left behind (%v)", s.Name, err)
		}
		results = append(results, r)
	}
	var md bytes.Buffer
	WriteMarkdown(&md, DescribeMachine(o.Bin), results)
	if r := results[len(results)-1]; r.Lines != 6 || r.Latencies != 6 {
		t.Errorf("small-new-alloc: %d lines, %d latencies; want 6 of each (one per stream of 3 allocations)", r.Lines, r.Latencies)
	}
	for _, want := range []string{"| small-backlog | 3 | http |", "| small-rate | 4 | loki |", "small-rate, idle for 1s", "Every line written arrived once"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
}

func TestSelect(t *testing.T) {
	all := Scenarios(Settings{Backlog: GiB, Duration: time.Minute, Idle: time.Second})
	got, err := Select(all, []string{"steady-100", "backlog-1"})
	if err != nil || len(got) != 2 || got[0].Name != "steady-100" || got[1].Backlog != GiB {
		t.Fatalf("Select = %v, %v", got, err)
	}
	if _, err := Select(all, []string{"nope"}); err == nil || !strings.Contains(err.Error(), "backlog-100") {
		t.Fatalf("unknown scenario: %v", err)
	}
}
