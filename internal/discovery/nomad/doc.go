// Package nomad discovers the task log streams of one Nomad client node and
// the metadata their events carry. It is the discovery half of the
// nomad_logs source; tailing the files is internal/tail's job.
//
// # Flow
//
// ResolveNode finds the node: node_id and alloc_dir from the configuration,
// else from the local agent (GET /v1/agent/self); name and datacenter from
// GET /v1/node/<id>. The Watcher then reads GET /v1/node/<id>/allocations
// (full allocation objects with their job, of every namespace the token may
// read) in a loop of blocking queries:
//
//   - the first request, and every request after an error, reads the whole
//     list (index 0); later ones pass ?index=<X-Nomad-Index>&wait=<blocking_wait>;
//   - an answer with the same index (the wait ended) is skipped, unless
//     allocations left the list: the list's index is the highest
//     ModifyIndex of the node's allocations, so garbage collection never
//     raises it and wakes no blocking query (it shows when the wait ends);
//   - an index lower than the one sent (cluster restored, -dev agent
//     restarted, or the allocation with the highest ModifyIndex garbage
//     collected) counts a reset and reads the whole list again;
//   - every resync_interval the whole list is read and compared, so that
//     nothing depends on a blocking query having seen every change;
//   - errors are retried with exponential backoff and jitter, logged once
//     per failure streak (and when their kind changes), recovery logged;
//   - nothing depends on the event stream.
//
// Each allocation of the list becomes a Group (Builder.Group): one Target
// per task x stream (stdout, stderr) for every task of the job's task group
// and of TaskStates, including tasks that have not started yet and
// prestart/sidecar tasks, minus the tasks the selection (include/exclude
// globs, meta drover.enabled = "false") leaves out. Each target carries
// one *event.Meta built once and shared by all the events of the stream;
// an unchanged target keeps its *event.Meta across updates. Allocations
// whose ModifyIndex did not move are not rebuilt.
//
// # The group channel
//
// Run(ctx, up) sends []Group on up, in the style of Prometheus discovery:
//
//   - The first send is the full set: one group per allocation that has
//     targets, possibly none at all (an empty, non-nil slice). An
//     allocation absent from it has nothing to ship.
//   - Every later send holds only groups that changed, at most one per
//     allocation. A group replaces the previous group of its allocation
//     as a whole (targets added, removed, Terminal set, metadata changed).
//   - A group without targets means "nothing (more) to ship from this
//     allocation": Gone is true when it left the node's list (garbage
//     collected; its directory is deleted within milliseconds), false when
//     its tasks are no longer selected. It may name an allocation the
//     consumer never saw.
//   - Terminal marks allocations that will write no more logs; their files
//     stay until garbage collection, so read them to the end.
//   - Groups of one send are sorted by allocation ID. Run never blocks its
//     blocking queries on the consumer: changes that arrive while a send
//     waits are merged into the next one (a capacity-1 trigger channel
//     wakes the sender). Run does not close up.
//
// A log file can appear before the list shows its allocation: Lookup asks
// for one allocation on demand (sharing one list read among concurrent
// callers), and PathMeta builds path-only metadata for files the API
// cannot describe (unknown allocation, API unreachable).
//
// # File names
//
// logmon writes <alloc_dir>/<alloc_id>/alloc/logs/<task>.<stream>.<N>;
// MatchLogFile accepts exactly that name for one task (task "api" does not
// match "api-proxy.stdout.0", fifos never match), ParseLogPath reads a path
// back, and ListLogFiles lists one stream's files ordered by N.
package nomad
