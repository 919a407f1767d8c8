// Package discovery is the contract between what finds log files and what
// follows them.
//
// A Discoverer (the Nomad node's allocations, glob patterns, later the
// pods of a Kubernetes node) reports Groups of Targets; a follower
// (internal/follow) reconciles what it follows against them, opens and
// reads the files, keeps positions and checkpoints. A discoverer never
// opens a log file for reading and never reads one; a follower never asks
// an orchestrator anything. The shape is Prometheus' discovery
// (discovery/discovery.go): a full set first, then changed groups, each
// group replacing the previous one of its key as a whole.
//
// # Targets
//
// A Target is one stream of log lines written to a chain of files: a Nomad
// task's stdout (logmon's <task>.stdout.0, .1, ...), one file matched by a
// glob, one container of a Kubernetes pod. It carries:
//
//   - a stable Key, under which the follower saves the target's position:
//     the same key after a restart of drover must mean the same stream;
//   - where its files are (Dir) and how they are named (Name, Scheme);
//   - the metadata of its events (Meta), one value shared by all of them.
//
// The Scheme says how the files of a target are named and rotated, and
// so how a follower orders them into one chain, when a file is complete,
// and whether a line can continue from one file into the next (see the
// constants).
//
// # Groups
//
// Targets come in Groups: the targets of one allocation, one pod, one
// file. A group's Key is unique among the groups of a discoverer. A group
// says whether its targets are still written (live), will not be written
// any more (Terminal: a completed allocation, a pod that ended; their
// files stay and are read to their end), or are gone (Gone: garbage
// collection deletes their files, a file left the glob patterns: what the
// follower holds open is read to its end, and what it could not read is
// reported as lost). Targets of a terminal or gone group keep the
// metadata they last had until the follower read them out; a gone group
// needs no targets, the follower remembers them.
//
// A group without targets that is not Gone means "nothing of this key is
// to be followed any more" (its tasks are no longer selected): the
// follower stops reading its targets at once and keeps their positions,
// so that they resume where they stopped if they are selected again.
package discovery

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/drover-dev/drover/internal/event"
)

// Discoverer finds targets and reports them.
//
// Run sends []Group on up until ctx ends, then returns nil. It never
// closes up.
//
//   - The first send is the full set: one group for every key that has
//     targets now, possibly none at all (an empty, non-nil slice). A
//     follower applies read_from to the targets of the full set of its
//     first start, and takes a position saved for a key that is absent
//     from it as a stream that went away while drover was not running.
//   - Every later send holds only the groups that changed, at most one per
//     key, each replacing the previous group of its key as a whole
//     (targets added or removed, metadata replaced, Terminal or Gone set).
//     A group may name a key the follower never saw (a Gone group of an
//     allocation collected before it was reported): it is ignored.
//   - Sends must not wait on the discoverer's own sources (an API that is
//     down, a slow directory): a discoverer that cannot learn something
//     reports what it knows and sends the rest when it comes.
//
// Run returns an error only when it cannot work at all; the follower logs
// and counts it and calls Run again later, which starts over with a full
// set. Only one Run of a Discoverer may be active.
type Discoverer interface {
	Run(ctx context.Context, up chan<- []Group) error
}

// Group is the state of the targets of one key: an allocation, a pod, a
// file. Groups are read-only once sent: their Targets may be shared with
// the discoverer and with other groups.
type Group struct {
	// Key identifies the group among the groups of its discoverer: an
	// allocation ID, a pod UID, a file's identity.
	Key string
	// Targets are the group's targets, each with a Key unique among all
	// targets of the discoverer. Empty in a group that is not Gone:
	// nothing of this key is to be followed any more (see the package
	// documentation).
	Targets []Target
	// Terminal: the targets will not be written any more. Their files stay:
	// read them to their end, then release them.
	Terminal bool
	// Gone: the group's files are deleted or about to be (garbage
	// collection), or left what the discoverer watches (a file renamed or
	// deleted out of the glob patterns). The follower reads to their end
	// the files it holds open, with the last metadata of each target,
	// reports what it could not read of deleted files as lost, and releases
	// the targets. Targets may be empty; targets given replace the
	// metadata of the same keys (a target that never had metadata gets
	// what its path tells).
	Gone bool
}

// Target is one stream of lines written to a chain of files.
type Target struct {
	// Key identifies the target across groups and across restarts of
	// drover: its position is saved under it. It is unique among all
	// targets of a discoverer and names the same stream after a restart:
	// "<alloc_id>/<task>/<stream>" (Nomad), "<pod_uid>/<container>"
	// (Kubernetes; a pod recreated under the same name has another UID),
	// "<device>:<inode>" (a file matched by a glob; the follower tells a
	// reused inode from the file it was by the checksum of its head).
	Key string
	// Dir is the directory that holds the target's files. It may not exist
	// yet (an allocation whose client has not created its directory): the
	// follower watches for it.
	Dir string
	// Name is what the Scheme derives the file names from: the prefix
	// "<task>.<stream>" of Numbered files, the file's base name for
	// Logrotate (it changes when the file is renamed within what the
	// discoverer watches), the container's directory for Kubernetes (the
	// files are in Dir; Name is informative).
	Name string
	// Scheme is how the target's files are named and rotated.
	Scheme Scheme
	// Meta is the metadata of every event of the target, one value shared
	// by all of them. Nil while it is not known yet (a Nomad allocation the
	// API has not described): the follower then holds the target's files
	// open, so that rotation and deletion take nothing, but reads them only
	// once a later group gives the metadata. A discoverer reuses the same
	// *event.Meta while the metadata does not change.
	Meta *event.Meta
	// Attrs name the target in the follower's logs: "alloc_id", "task",
	// "stream" for a Nomad task stream, "file" for a file.
	Attrs []slog.Attr
	// Dev and Ino are, for a Logrotate target, the device and inode of the
	// file the discoverer found at Dir/Name: the follower reads that file,
	// never another one that took its name.
	Dev, Ino uint64
	// Compressed says what to do with the compressed rotated files of a
	// Kubernetes target (<restart>.log.<timestamp>.gz).
	Compressed Compressed
}

// Path is the path of the target's file Dir/Name (for Logrotate, the file
// itself; for Numbered, the prefix of its files' paths).
func (t *Target) Path() string { return filepath.Join(t.Dir, t.Name) }

// Scheme is how a target's files are named and rotated.
type Scheme uint8

const (
	// Numbered is Nomad logmon's: files <Name>.<N> in Dir, N a decimal
	// number from 0 up (no sign, no leading zero); the highest N is the
	// file being written. When it reaches its size limit the writer creates
	// N+1 and never writes N again; files are never renamed; the oldest are
	// deleted beyond a count. A line may be cut at the size limit and
	// continue at the start of N+1: the follower joins the two pieces. File
	// N is complete once N+1 exists and N is read to its end. A number
	// missing between two files means files were created and deleted
	// unseen: their lines are lost and reported.
	Numbered Scheme = iota + 1
	// Logrotate is one file, Dir/Name, followed by its identity (Dev, Ino,
	// then the checksum of its head) wherever it moves: a rotation by
	// rename and create moves it away (the follower reads it to its end;
	// the new file created at the name is another target), a copytruncate
	// truncates it (the follower reads it again from its beginning). The
	// file may be written after it was renamed (logrotate renames, then
	// asks the writer to reopen), so it is complete only once it stayed
	// unchanged at its end for a while (the file source's rotate_wait).
	Logrotate
	// Kubernetes is the kubelet's: <restart>.log in Dir, the file the
	// container runtime writes, renamed to <restart>.log.<YYYYMMDD-hhmmss>
	// when it is rotated (the runtime then creates a new <restart>.log)
	// and later compressed to <restart>.log.<YYYYMMDD-hhmmss>.gz; a
	// container restart starts <restart+1>.log. The chain is ordered by
	// restart, then rotation time, the live file last; a rotated file is
	// complete once a newer file exists and it is read to its end. Lines
	// are CRI records and never cut across files. Compressed files are
	// read or skipped as Target.Compressed says. The file a docker
	// json-file symlink points to is followed the same way: a new identity
	// at <restart>.log is the next file. internal/follow/kube.go.
	Kubernetes
)

// String names the scheme for logs.
func (s Scheme) String() string {
	switch s {
	case Numbered:
		return "numbered"
	case Logrotate:
		return "logrotate"
	case Kubernetes:
		return "kubernetes"
	}
	return "unknown"
}

// Compressed says what happens to compressed rotated files.
type Compressed uint8

const (
	// SkipCompressed leaves compressed files unread: a file compressed
	// before it was read to its end is reported as lost.
	SkipCompressed Compressed = iota
	// ReadCompressed decompresses them and reads what was not read yet.
	ReadCompressed
)
