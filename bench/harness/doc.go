// Package harness runs drover's end-to-end benchmarks: for each Scenario it
// writes task logs with bench/gen into a Nomad-shaped alloc directory,
// serves the allocations from the fake Nomad API of internal/nomadtest,
// starts the real drover binary with a nomad_logs source and an http or
// Loki sink pointed at a bench/recv receiver, waits until every line
// arrived, and measures drover from /proc: throughput, CPU seconds per GiB
// shipped, peak resident memory, and for fixed-rate scenarios the latency
// from a line's write to its arrival. docs/benchmarks.md describes the
// method and the results.
package harness
