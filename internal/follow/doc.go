// Package follow is drover's one file follower: it follows the files of
// the targets a discovery.Discoverer reports, and ships their lines at
// least once. Every file-based source is a discoverer plus a Follower:
// nomad_logs (the Nomad node's allocations), file (glob patterns) and
// kubernetes_logs (the pods of a Kubernetes node).
//
// # What it owns
//
//   - Groups: it reconciles what it follows against the discoverer's
//     groups (discovery.Group): a chain per target, metadata replaced in
//     place, chains of targets no longer named stopped (position kept),
//     terminal and gone groups read to their end and released.
//   - Chains: the files of a target in order (the scheme's order: logmon's
//     <name>.<N>; one Logrotate file followed by its identity; the
//     kubelet's <restart>.log and its rotated and compressed files, each
//     followed by its identity, kube.go). Every file
//     of a chain that is not finished is held open as soon as it is seen,
//     so that rotation and garbage collection cannot take lines that were
//     not read: a deleted file is read to its end through its descriptor.
//     A line a Numbered writer split across two files is joined
//     (tail.Reader.HandOff); one split around lost files goes out in
//     pieces flagged partial.
//   - Reading rounds: one goroutine serves every target with one read
//     buffer, round-robin, at most 512 KiB per target per round; idle
//     targets are polled with a backoff (tail.Poll), fsnotify's write
//     events wake them at once, new files are looked at without waiting.
//   - The open-file budget (max_open_files, tail.Budget): idle files are
//     parked and reopened by identity; a file with unread data is never
//     parked (budget.go).
//   - The emit queue: batches wait in a queue of two for the emitter, so a
//     full sink stops the reading while files go on being found and held.
//   - Positions: every open file's tail.Progress moves with the
//     acknowledgements; a target's position is the committed offset of its
//     first unfinished file, saved through the source's Store (its own
//     checkpoint format) every checkpoint_interval, and once more at
//     Close. Whether each position was at the end of its target is saved
//     too.
//   - Losses, each logged once with its files and counted in
//     drover_files_lost_total{reason} (tail.Losses): files deleted before
//     they could be opened (gaps in a Numbered chain), deleted files held
//     unread when the follower stops, parked files written and deleted
//     before they were reopened, and targets that went away while drover
//     was not running with lines it had not delivered.
//
// # Contract
//
// Run reads until ctx ends; Close (after Run) waits for the
// acknowledgements of what was emitted (or ctx), saves the positions,
// reports the unread data of deleted files and closes them. A batch's Ack
// moves its file's position only when every consumer acknowledged it, as
// a contiguous prefix: a crash repeats at most what was emitted and not
// acknowledged, and skips nothing. A batch acknowledged with failure holds
// its target's position; the next Run reads it again.
//
// read_from applies to the targets of the discoverer's first full set that
// have no saved position: at a first start (no checkpoint existed), or at
// every start with ReadFromEveryStart. Every other target without a
// position is read from its beginning. Positions are saved as soon as the
// first full set decided where its targets start, before anything is read.
//
// The follower is not safe for concurrent use: Run and Close are called
// from one goroutine, Run at most once at a time. Budget, Losses and
// CheckpointPath may be read at any time.
package follow
