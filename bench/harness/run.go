package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/drover-dev/drover/bench/gen"
	"github.com/drover-dev/drover/bench/proc"
	"github.com/drover-dev/drover/bench/recv"
	"github.com/drover-dev/drover/internal/nomadtest"
)

// Options configure how scenarios run.
type Options struct {
	// Bin is the drover binary.
	Bin string
	// WorkDir holds one directory per scenario (alloc dir, drover's data
	// dir, configuration and log), removed after the scenario unless Keep.
	WorkDir string
	Keep    bool
	// ProfileDir, if set, receives a CPU profile of drover per scenario,
	// <name>.cpu.pprof, taken through the admin endpoint for
	// ProfileSeconds from the moment drover is ready.
	ProfileDir     string
	ProfileSeconds int
	// CheckEvery: one line in CheckEvery is compared in full with what
	// was written (see recv.Options).
	CheckEvery int
	// Progress receives a line per step.
	Progress io.Writer
}

// Result is what one scenario measured.
type Result struct {
	Scenario Scenario
	// Lines and Bytes were written (bytes with their newlines).
	Lines uint64
	Bytes int64
	// Elapsed is the measured window: from drover's start to the last
	// line's arrival for a backlog, the writing time for a fixed rate.
	Elapsed time.Duration
	// CPU is drover's user+system time: from its start to the last line's
	// arrival for a backlog; from the first write to the last arrival for
	// a fixed rate.
	CPU time.Duration
	// CPUWindow is the wall time CPU was measured over.
	CPUWindow time.Duration
	// HarnessCPU is this process's user+system time over the same window:
	// the receiver, and for a fixed rate the writers too. It shows how
	// much of the machine was left to drover.
	HarnessCPU time.Duration
	// PeakRSS is drover's resident memory high-water mark (VmHWM).
	PeakRSS int64
	// P50 and P99 are write-to-arrival latencies of fixed-rate lines, of
	// Latencies samples.
	P50, P99  time.Duration
	Latencies int
	// IdleCPU is the CPU (in cores) drover used while nothing was written
	// for Scenario.Idle; IdleRSS its resident memory at the end of it.
	IdleCPU float64
	IdleRSS int64
	// Load is the load average when drover started.
	Load [3]float64
	// Received is what the receiver counted.
	Received recv.Stats
	// Problems found: lost, duplicated, damaged lines, drover errors.
	Problems []string
}

// MiBps is the throughput in MiB/s of written bytes.
func (r Result) MiBps() float64 { return float64(r.Bytes) / MiB / r.Elapsed.Seconds() }

// LinesPerSec is the throughput in lines per second.
func (r Result) LinesPerSec() float64 { return float64(r.Lines) / r.Elapsed.Seconds() }

// CPUPerGiB is drover's CPU seconds per GiB of written bytes.
func (r Result) CPUPerGiB() float64 { return r.CPU.Seconds() / (float64(r.Bytes) / GiB) }

// Cores is drover's average CPU use, in cores, over the measured window.
func (r Result) Cores() float64 { return r.CPU.Seconds() / r.CPUWindow.Seconds() }

// HarnessCores is the harness's (receiver's, writers') average CPU use, in
// cores, over the same window.
func (r Result) HarnessCores() float64 { return r.HarnessCPU.Seconds() / r.CPUWindow.Seconds() }

func (o *Options) logf(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

// Run runs one scenario.
func Run(ctx context.Context, o Options, s Scenario) (res Result, err error) {
	res.Scenario = s
	if o.CheckEvery <= 0 {
		o.CheckEvery = 100
	}
	dir := filepath.Join(o.WorkDir, s.Name)
	if err := os.RemoveAll(dir); err != nil {
		return res, fmt.Errorf("clearing %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("creating %s: %w", dir, err)
	}
	if !o.Keep {
		defer os.RemoveAll(dir)
	}
	if s.Aggregators > 0 {
		return runKafka(ctx, o, s, dir)
	}

	layout := gen.NewLayout(filepath.Join(dir, "alloc"), s.Streams)
	if s.Kubernetes {
		layout = gen.NewKubeLayout(filepath.Join(dir, "pods"), s.Streams)
	}
	atStart := layout
	if s.NewAllocs > 0 {
		atStart = layout.First(len(layout.Allocs) - s.NewAllocs)
	}
	w, err := gen.NewWriter(atStart, s.MaxFileSize, s.MaxFiles)
	if err != nil {
		return res, err
	}
	defer w.Close()

	tb := &programTB{}
	defer func() {
		if errs := tb.cleanup(); len(errs) > 0 && err == nil {
			err = fmt.Errorf("fake Nomad API: %v", errs)
		}
	}()
	var nomadURL, kubeconfig string
	var nomad *nomadtest.Server
	if s.Kubernetes {
		var stop func()
		if kubeconfig, stop, err = servePods(dir, layout); err != nil {
			return res, err
		}
		defer stop()
	} else {
		nomad = serveAllocs(tb, dir, atStart)
		nomadURL = nomad.URL()
	}

	allocIDs := make([]string, s.Streams)
	for i, st := range layout.Streams {
		allocIDs[i] = layout.Allocs[st.Alloc].ID
	}
	rcv := recv.New(recv.Options{Streams: s.Streams, AllocIDs: allocIDs, CheckEvery: o.CheckEvery,
		ParsedMessageField: parsedMessageField(s)})
	rs, err := recv.Start("127.0.0.1:0", rcv)
	if err != nil {
		return res, err
	}
	defer rs.Close()

	if s.Backlog > 0 {
		t := time.Now()
		if err := w.Backlog(s.Backlog); err != nil {
			return res, err
		}
		o.logf("  wrote %s backlog in %d streams in %.1fs", size(w.Bytes()), s.Streams, time.Since(t).Seconds())
	}

	source := ""
	if s.Kubernetes {
		source = kubeSource(kubeconfig, layout.AllocDir)
	}
	cfgText, err := droverConfig(filepath.Join(dir, "data"), nomadURL, source, rs.URL(), s, o.ProfileDir != "")
	if err != nil {
		return res, err
	}
	cfg := filepath.Join(dir, "drover.hcl")
	if err := os.WriteFile(cfg, []byte(cfgText), 0o644); err != nil {
		return res, fmt.Errorf("writing drover's configuration: %w", err)
	}
	res.Load, _ = proc.LoadAverage()
	self0, err := proc.Read(os.Getpid())
	if err != nil {
		return res, err
	}
	started := time.Now()
	p, err := startDrover(ctx, o.Bin, cfg, filepath.Join(dir, "drover.log"))
	if err != nil {
		return res, err
	}
	defer func() {
		if p != nil {
			p.kill()
		}
	}()
	profiled := make(chan error, 1)
	if o.ProfileDir != "" {
		go func() {
			profiled <- p.cpuProfile(o.ProfileSeconds, filepath.Join(o.ProfileDir, s.Name+".cpu.pprof"))
		}()
	} else {
		profiled <- nil
	}

	newBytes, newLines := int64(0), uint64(0)
	written := func() []uint64 { return w.Lines() }
	if s.Backlog > 0 {
		if err := waitAll(ctx, rcv, w.TotalLines()); err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
		end, err := proc.Read(p.Pid())
		if err != nil {
			return res, err
		}
		st := rcv.Stats()
		res.CPU, res.PeakRSS = end.CPU, end.PeakRSS
		res.Elapsed = st.Last.Sub(started)
		res.CPUWindow = time.Since(started)
		if self, err := proc.Read(os.Getpid()); err == nil {
			res.HarnessCPU = self.CPU - self0.CPU
		}
	} else {
		rcv.RecordLatency(true)
		before, err := proc.Read(p.Pid())
		if err != nil {
			return res, err
		}
		self0, err := proc.Read(os.Getpid())
		if err != nil {
			return res, err
		}
		t0 := time.Now()
		if s.NewAllocs > 0 {
			lines, n, b, err := startAllocs(ctx, nomad, layout, s, w.Lines())
			if err != nil {
				return res, err
			}
			written = func() []uint64 { return lines }
			newLines, newBytes = n, b
		} else if err := w.Rate(ctx, s.Rate, s.Duration); err != nil {
			return res, err
		}
		res.Elapsed = time.Since(t0)
		if err := waitAll(ctx, rcv, w.TotalLines()+newLines); err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
		after, err := proc.Read(p.Pid())
		if err != nil {
			return res, err
		}
		res.CPU, res.CPUWindow, res.PeakRSS = after.CPU-before.CPU, time.Since(t0), after.PeakRSS
		if self, err := proc.Read(os.Getpid()); err == nil {
			res.HarnessCPU = self.CPU - self0.CPU
		}
		q, n := rcv.Latencies(0.5, 0.99)
		res.P50, res.P99, res.Latencies = q[0], q[1], n
	}
	res.Lines, res.Bytes = w.TotalLines()+newLines, w.Bytes()+newBytes

	if s.Idle > 0 {
		before, err := proc.Read(p.Pid())
		if err != nil {
			return res, err
		}
		time.Sleep(s.Idle)
		after, err := proc.Read(p.Pid())
		if err != nil {
			return res, err
		}
		res.IdleCPU = (after.CPU - before.CPU).Seconds() / s.Idle.Seconds()
		res.IdleRSS, res.PeakRSS = after.RSS, after.PeakRSS
	}

	if err := <-profiled; err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	for _, m := range []string{"drover_component_errors_total", "drover_component_discarded_events_total"} {
		if v, err := p.metric(m); err != nil {
			res.Problems = append(res.Problems, err.Error())
		} else if v > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("%s = %g", m, v))
		}
	}
	stopErr := p.stop()
	p = nil
	if stopErr != nil {
		res.Problems = append(res.Problems, stopErr.Error())
	}
	res.Received = rcv.Stats()
	res.Problems = append(res.Problems, verify(res.Received, written())...)
	return res, nil
}

// serveAllocs starts the fake Nomad API with the layout's allocations on
// its node.
func serveAllocs(tb *programTB, dir string, l *gen.Layout) *nomadtest.Server {
	srv := nomadtest.New(tb)
	agent := srv.Agent()
	agent.NodeName = "bench-node"
	agent.DataDir = filepath.Join(dir, "nomad")
	agent.AllocDir = l.AllocDir
	srv.SetAgent(agent)
	for _, a := range l.Allocs {
		addAlloc(srv, a)
	}
	return srv
}

// addAlloc puts an allocation of the layout on the fake Nomad API's node.
func addAlloc(srv *nomadtest.Server, a gen.Alloc) {
	srv.AddAlloc(nomadtest.Alloc{
		ID: a.ID, Namespace: a.Namespace, Job: a.Job, Group: a.Group, Index: a.Index,
		JobMeta: map[string]string{"team": "payments", "version": "1.4.2"},
		Tasks:   []nomadtest.Task{{Name: gen.Task, Meta: map[string]string{"owner": "bench"}}},
	})
}

// startAllocs starts the scenario's new allocations, one every
// s.NewAllocEvery (see Scenario.NewAllocs), and returns the lines written
// per stream (atStart's, then one per stream of each new allocation), and
// the lines and bytes the new allocations wrote.
func startAllocs(ctx context.Context, nomad *nomadtest.Server, l *gen.Layout, s Scenario, atStart []uint64) (lines []uint64, n uint64, bytes int64, err error) {
	lines = make([]uint64, s.Streams)
	copy(lines, atStart)
	for i := len(l.Allocs) - s.NewAllocs; i < len(l.Allocs); i++ {
		addAlloc(nomad, l.Allocs[i])
		b, err := l.StartAlloc(i, s.MaxFileSize, s.MaxFiles)
		if err != nil {
			return nil, 0, 0, err
		}
		bytes += b
		for _, st := range l.Streams {
			if st.Alloc == i {
				lines[st.ID]++
				n++
			}
		}
		select {
		case <-ctx.Done():
			return nil, 0, 0, ctx.Err()
		case <-time.After(s.NewAllocEvery):
		}
	}
	return lines, n, bytes, nil
}

// stallTimeout is how long waitAll waits without a new line arriving.
const stallTimeout = 60 * time.Second

// waitAll waits until want distinct lines arrived, or none arrived for
// stallTimeout.
func waitAll(ctx context.Context, r *recv.Receiver, want uint64) error {
	last, lastChange := uint64(0), time.Now()
	for {
		got := r.Stats().Lines
		if got >= want {
			return nil
		}
		if got != last {
			last, lastChange = got, time.Now()
		}
		if time.Since(lastChange) > stallTimeout {
			return fmt.Errorf("%d of %d lines arrived; none for %s", got, want, stallTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// verify compares what arrived with what was written.
func verify(st recv.Stats, written []uint64) []string {
	var out []string
	lost := uint64(0)
	for sid, n := range written {
		if st.PerStream[sid] < n {
			lost += n - st.PerStream[sid]
		}
	}
	if lost > 0 {
		out = append(out, fmt.Sprintf("%d lines lost", lost))
	}
	for _, c := range []struct {
		n    uint64
		what string
	}{
		{st.Duplicates, "duplicated"},
		{st.OutOfOrder, "out of order within their stream"},
		{st.Invalid, "unrecognised"},
		{st.WrongMeta, "without their allocation's ID"},
		{st.Mismatched, "damaged (of " + fmt.Sprint(st.Checked) + " compared in full)"},
	} {
		if c.n > 0 {
			out = append(out, fmt.Sprintf("%d lines %s", c.n, c.what))
		}
	}
	if st.FirstProblem != "" {
		out = append(out, "first problem: "+st.FirstProblem)
	}
	return out
}
