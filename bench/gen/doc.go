// Package gen writes realistic task logs into a Nomad-shaped alloc
// directory, for drover's end-to-end benchmarks (bench/cmd/drover-bench).
//
// A node (Layout) has allocations of one task "app" each, under
// <alloc_dir>/<alloc_id>/alloc/logs/, with logmon's named pipes beside the
// files. Each stream (allocation x stdout/stderr) is written by a File, the
// way Nomad's logmon writes: app.stdout.0, app.stdout.1, ... rotated by
// size, old files optionally deleted. A Node writes lines into every
// stream, either a given number of bytes as fast as possible (a backlog)
// or at a fixed rate.
//
// Every line carries its write time (Unix nanoseconds), its stream id and
// its sequence number at its start, and the rest of it is a pure function
// of those three: a receiver parses them back (ParseHeader) to count lines,
// find gaps and duplicates and measure latency, and can rebuild the whole
// line (AppendLine) to check that it arrived intact. Even streams write
// JSON lines, odd streams plain logfmt-style text; lines are 100 to 500
// bytes, one in 200 is between 1 and 16 KiB.
package gen
