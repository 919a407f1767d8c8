package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/drover-dev/drover/bench/gen"
	"github.com/drover-dev/drover/bench/recv"
)

// runGen writes logs only, for measuring another shipper with the same
// generator.
func runGen(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("drover-bench gen", flag.ContinueOnError)
	dir := fs.String("dir", "", "alloc dir to write into (required)")
	streams := fs.Int("streams", 100, "number of task streams")
	var backlog, rate, maxSize int64 = 0, 0, 10 << 20
	fs.Var(byteSize{&backlog}, "backlog", "write this many bytes as fast as possible")
	fs.Var(byteSize{&rate}, "rate", "write this many bytes per second")
	d := fs.Duration("duration", time.Minute, "how long to write at -rate")
	fs.Var(byteSize{&maxSize}, "max-file-size", "rotate files at this size, as logmon")
	maxFiles := fs.Int("max-files", 0, "keep this many files per stream (0: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || (backlog > 0) == (rate > 0) {
		return errors.New("gen needs -dir and one of -backlog or -rate")
	}
	l := gen.NewLayout(*dir, *streams)
	w, err := gen.NewWriter(l, maxSize, *maxFiles)
	if err != nil {
		return err
	}
	defer w.Close()
	start := time.Now()
	if backlog > 0 {
		err = w.Backlog(backlog)
	} else {
		err = w.Rate(ctx, float64(rate), *d)
	}
	fmt.Printf("wrote %d lines, %d bytes in %d streams in %.1fs\n", w.TotalLines(), w.Bytes(), *streams, time.Since(start).Seconds())
	for _, st := range l.Streams {
		fmt.Printf("stream %d: %s/%s.%s.N, %d lines\n", st.ID, st.Dir, gen.Task, st.Name, w.Lines()[st.ID])
	}
	return err
}

// runRecv receives and counts until interrupted, printing the counts.
func runRecv(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("drover-bench recv", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "listen address")
	streams := fs.Int("streams", 100, "number of task streams written")
	every := fs.Duration("every", 5*time.Second, "how often to print the counts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r := recv.New(recv.Options{Streams: *streams, CheckEvery: 100})
	r.RecordLatency(true)
	s, err := recv.Start(*addr, r)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Printf("receiving on %s (http sink bodies on any path, Loki pushes on %s)\n", s.URL(), recv.LokiPath)
	t := time.NewTicker(*every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			st := r.Stats()
			q, _ := r.Latencies(0.5, 0.99)
			fmt.Printf("%d lines (%d duplicated, %d unrecognised, %d damaged), latency p50 %v p99 %v\n",
				st.Lines, st.Duplicates, st.Invalid, st.Mismatched, q[0], q[1])
		}
	}
}
