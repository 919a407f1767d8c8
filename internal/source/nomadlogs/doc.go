// Package nomadlogs implements the "nomad_logs" source: it ships the task
// logs of every allocation on one Nomad client node, each line enriched
// with the metadata of its task (namespace, job, group, task, allocation,
// node, merged meta), without loss.
//
// # Streams
//
// A stream is allocation x task x stream (stdout, stderr): the chain of
// files <alloc_dir>/<alloc_id>/alloc/logs/<task>.<stream>.<N> that logmon
// writes, read in the order of N. Names are matched exactly (task "api"
// never reads "api-proxy.stdout.0"), fifos are never opened. Every file of
// a chain that is not finished is held open as soon as it is seen, so
// logmon's purge (max_files) and garbage collection of the allocation
// cannot take lines that were not read: a deleted file is read to its end
// through its descriptor. logmon never writes file N again once it created
// N+1, so N is complete when a read that began after N+1 was seen reaches
// its end; a line that logmon split across N and N+1 is joined
// (tail.Reader.HandOff).
//
// # Discovery
//
// internal/discovery/nomad watches the node's allocations and reports one
// group per allocation: its targets (one per selected task x stream, with
// the stream's shared *event.Meta), and whether it is terminal or gone.
// Files are also found on disk, independently of the API: the alloc dir is
// scanned every scan_interval and watched with fsnotify (the alloc dir,
// and each allocation's log directory or the deepest directory on the way
// to it). Files of an allocation the watch has not reported are held open
// at once and the allocation is looked up (Watcher.Lookup); if the API
// does not describe it within unknown_alloc_wait (not listed, not readable
// with the token, API unreachable), the stream is shipped with the
// metadata its path gives (nomad.PathMeta), and selected by task name
// only.
//
// # End of a stream
//
// A stream whose allocation is terminal or garbage-collected, or whose
// only open file is deleted, is read to its end; once its last file stayed
// unchanged for terminal_idle (and a last listing found no newer file) a
// held unfinished line is sent flagged partial, the files are closed and
// the stream is released. Its position stays in the checkpoint, so a
// resync or a restart does not read it again. Streams of tasks that are no
// longer selected stop at once and keep their position.
//
// # Positions and acknowledgements
//
// Each open file has a tail.Progress that acknowledgements move; the
// position of a stream is the committed offset of its first unfinished
// file (position). It is saved per stream in the checkpoint file, with the
// file's number and fingerprint. A restart resumes there; files before it
// are done, files after it are read from their beginning, and files that
// were purged while drover was down are logged and counted as lost.
//
// # Serving
//
// One goroutine serves every stream with one read buffer, round-robin, at
// most perStreamBudget bytes per stream per round; idle streams are polled
// with a backoff, and fsnotify's write events wake them at once. A full
// sink blocks Emit, which stops reading: the log files are the buffer.
//
// docs/components/source-nomad_logs.md is the user documentation.
package nomadlogs
