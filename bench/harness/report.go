package harness

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine describes where the benchmarks ran.
type Machine struct {
	CPU    string
	Cores  int
	Memory string
	Kernel string
	Go     string
	Drover string
}

// DescribeMachine reads the machine's description from /proc and asks bin
// for its version.
func DescribeMachine(bin string) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		var kb int64
		if _, err := fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%d", &kb); err == nil {
			m.Memory = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if out, err := exec.Command(bin, "version").Output(); err == nil {
		m.Drover = strings.TrimSpace(string(out))
	}
	return m
}

// WriteMarkdown writes the machine, the results table, the idle
// measurements and the problems found, as Markdown.
func WriteMarkdown(w io.Writer, m Machine, results []Result) {
	fmt.Fprintf(w, "Machine: %s, %d cores, %s RAM, %s, %s, %s.\n\n", m.CPU, m.Cores, m.Memory, m.Kernel, m.Go, m.Drover)
	fmt.Fprintln(w, "| Scenario | Streams | Sink | Written | MiB/s | lines/s | CPU s/GiB | CPU (cores) | Peak RSS | Latency p50 | p99 | Harness CPU (cores) | Load (1m) |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		lat50, lat99 := "–", "–"
		if r.Latencies > 0 {
			lat50, lat99 = ms(r.P50), ms(r.P99)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %.1f | %.0f | %.2f | %.2f | %.0f MiB | %s | %s | %.2f | %.2f |\n",
			r.Scenario.Name, r.Scenario.Streams, r.Scenario.Sink, size(r.Bytes),
			r.MiBps(), r.LinesPerSec(), r.CPUPerGiB(), r.Cores(), float64(r.PeakRSS)/MiB,
			lat50, lat99, r.HarnessCores(), r.Load[0])
	}
	for _, r := range results {
		if r.Scenario.Idle > 0 {
			fmt.Fprintf(w, "\n%s, idle for %s after the writes stopped: %.3f cores (%.1f ms of CPU per second), %.0f MiB resident.\n",
				r.Scenario.Name, r.Scenario.Idle, r.IdleCPU, r.IdleCPU*1000, float64(r.IdleRSS)/MiB)
		}
	}
	writeScaling(w, results)
	var problems []string
	for _, r := range results {
		for _, p := range r.Problems {
			problems = append(problems, r.Scenario.Name+": "+p)
		}
	}
	if len(problems) == 0 {
		fmt.Fprintln(w, "\nEvery line written arrived once, in order within its stream, with its allocation's metadata; none was damaged.")
		return
	}
	fmt.Fprintln(w, "\nProblems:")
	for _, p := range problems {
		fmt.Fprintln(w, "- "+p)
	}
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

// writeScaling compares the kafka scenarios with more aggregators to the
// one with a single aggregator on the same topic, when both ran.
func writeScaling(w io.Writer, results []Result) {
	var one *Result
	for i := range results {
		if s := results[i].Scenario; s.Aggregators == 1 {
			one = &results[i]
		}
	}
	if one == nil {
		return
	}
	for _, r := range results {
		s := r.Scenario
		if s.Aggregators < 2 || s.Partitions != one.Scenario.Partitions {
			continue
		}
		fmt.Fprintf(w, "\n%s: %d aggregators on a %d-partition topic ship %.2fx the events/s of one (%.0f vs %.0f lines/s), using %.2f cores vs %.2f.\n",
			s.Name, s.Aggregators, s.Partitions, r.LinesPerSec()/one.LinesPerSec(), r.LinesPerSec(), one.LinesPerSec(), r.Cores(), one.Cores())
	}
}
