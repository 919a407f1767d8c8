// Package nomadlogs implements the "nomad_logs" source: it ships the task
// logs of every allocation on one Nomad client node, each line enriched
// with the metadata of its task (namespace, job, group, task, allocation,
// node, merged meta, services), without loss.
//
// It is two parts and a checkpoint format:
//
//   - nomad.Discoverer (internal/discovery/nomad) finds the streams: the
//     node's allocations through the API (blocking queries, resyncs) and
//     the alloc dir on disk; one group per allocation, one target per
//     task x stream, keyed "<alloc_id>/<task>/<stream>", whose files are
//     logmon's numbered <task>.<stream>.<N>. Files of an allocation the
//     API has not described are held open at once and shipped with the
//     metadata their path gives if the API does not describe it within
//     unknown_alloc_wait.
//   - follow.Follower (internal/follow) reads them: the chain of each
//     stream in the order of N, lines split across two files joined, every
//     unfinished file held open so that purges and garbage collection take
//     nothing unread, terminal and collected streams read to their end and
//     released after terminal_idle, the open-file budget, positions and
//     losses.
//   - state.go keeps the positions in the checkpoint format of the first
//     release (one entry per stream, in the stream's first unfinished
//     file), with whether each was at its end, and the alloc dir in use.
//
// docs/components/source-nomad_logs.md is the user documentation.
package nomadlogs
