// Command drover-bench runs drover's end-to-end benchmarks and prints a
// Markdown table of the results (docs/benchmarks.md).
//
//	drover-bench [flags] [scenario ...]   run the scenarios (all by default)
//	drover-bench list                     list the scenarios
//	drover-bench gen [flags]              only write logs (to feed another shipper)
//	drover-bench recv [flags]             only receive and count (for another shipper)
//
// Run it from the repository (make bench): without -bin it builds drover
// from ./cmd/drover first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/drover-dev/drover/bench/harness"
	"github.com/drover-dev/drover/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	var err error
	switch {
	case len(args) > 0 && args[0] == "list":
		for _, s := range harness.Scenarios(defaultSettings()) {
			fmt.Printf("%-18s %s\n", s.Name, s.Describe())
		}
	case len(args) > 0 && args[0] == "gen":
		err = runGen(ctx, args[1:])
	case len(args) > 0 && args[0] == "recv":
		err = runRecv(ctx, args[1:])
	default:
		err = runBench(ctx, args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "drover-bench:", err)
		os.Exit(1)
	}
}

func defaultSettings() harness.Settings {
	return harness.Settings{Backlog: harness.GiB, Duration: 60 * time.Second, Idle: 30 * time.Second, KafkaBacklog: 256 * harness.MiB}
}

// byteSize is a flag.Value for sizes such as "1GiB".
type byteSize struct{ v *int64 }

func (b byteSize) String() string {
	if b.v == nil {
		return ""
	}
	return config.ByteSize(*b.v).String()
}

func (b byteSize) Set(s string) error {
	n, err := config.ParseByteSize(s)
	if err != nil {
		return err
	}
	*b.v = int64(n)
	return nil
}

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("drover-bench", flag.ContinueOnError)
	set := defaultSettings()
	bin := fs.String("bin", "", "drover binary (default: build ./cmd/drover into the work directory)")
	work := fs.String("work", "", "work directory (default: a new temporary directory, removed at the end)")
	keep := fs.Bool("keep", false, "keep each scenario's directory (logs, configuration, drover's log)")
	fs.Var(byteSize{&set.Backlog}, "backlog", "size of the backlog scenarios")
	fs.Var(byteSize{&set.KafkaBacklog}, "kafka-backlog", "size of the kafka scenarios' topic")
	fs.DurationVar(&set.Duration, "duration", set.Duration, "how long the fixed-rate scenarios write")
	fs.DurationVar(&set.Idle, "idle", set.Idle, "how long the many-files scenario stays idle at the end")
	profile := fs.String("cpuprofile", "", "directory for a CPU profile of drover per scenario (<name>.cpu.pprof)")
	profileSecs := fs.Int("profile-seconds", 20, "length of each CPU profile, from when drover is ready")
	waitLoad := fs.Float64("wait-load", 0, "first wait until the 1-minute load average is below this, polling every minute (0: do not wait)")
	waitMax := fs.Duration("wait-max", 30*time.Minute, "longest wait for the load average")
	out := fs.String("out", "", "also write the Markdown report to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	scenarios, err := harness.Select(harness.Scenarios(set), fs.Args())
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	if *work == "" {
		if *work, err = os.MkdirTemp("", "drover-bench"); err != nil {
			return err
		}
		if !*keep {
			defer os.RemoveAll(*work)
		}
	}
	if *bin == "" {
		*bin = filepath.Join(*work, "drover")
		logf("building drover into %s", *bin)
		if err := build(*bin); err != nil {
			return err
		}
	}
	if *profile != "" {
		if err := os.MkdirAll(*profile, 0o755); err != nil {
			return err
		}
	}
	opts := harness.Options{Bin: *bin, WorkDir: *work, Keep: *keep, ProfileDir: *profile,
		ProfileSeconds: *profileSecs, Progress: os.Stderr}
	if *waitLoad > 0 {
		l, ok, err := harness.WaitForLoad(ctx, *waitLoad, time.Minute, *waitMax, logf)
		if err != nil {
			return err
		}
		if !ok {
			logf("load average still %.2f after %s; measuring anyway (the table records it)", l[0], *waitMax)
		}
	}
	var results []harness.Result
	for _, s := range scenarios {
		logf("%s: %s", s.Name, s.Describe())
		r, err := harness.Run(ctx, opts, s)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		logf("  %.1f MiB/s, %.0f lines/s, %.2f CPU s/GiB (%.2f cores; harness %.2f cores), peak RSS %.0f MiB, p50 %v p99 %v, problems: %d",
			r.MiBps(), r.LinesPerSec(), r.CPUPerGiB(), r.Cores(), r.HarnessCores(), float64(r.PeakRSS)/harness.MiB, r.P50, r.P99, len(r.Problems))
		results = append(results, r)
	}
	m := harness.DescribeMachine(*bin)
	var w io.Writer = os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = io.MultiWriter(os.Stdout, f)
	}
	harness.WriteMarkdown(w, m, results)
	for _, r := range results {
		if len(r.Problems) > 0 {
			return errors.New("some scenarios found problems (see the report)")
		}
	}
	return nil
}

// build compiles drover as the Makefile's build target does.
func build(out string) error {
	version := "bench"
	if v, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output(); err == nil {
		version = strings.TrimSpace(string(v))
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version,
		"-o", out, "github.com/drover-dev/drover/cmd/drover")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building drover: %w", err)
	}
	return nil
}
