package follow

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/tail"
)

// chain is one target being followed: its files, read in order. Every file
// of the chain that is not finished is held open, so that rotation and
// deletion cannot take lines the follower has not read: a deleted file is
// read to its end through its descriptor.
type chain struct {
	key string
	t   discovery.Target // as the last group gave it
	// label names the target in the bytes-behind gauge: its path.
	label  string
	behind prometheus.Gauge
	attrs  []any // t.Attrs, for slog

	meta *event.Meta
	// ready: the metadata is known and the files are read. Targets whose
	// metadata is not known yet hold their files open without reading.
	ready bool

	// started: where the chain starts was decided (its first file was
	// found). files are the open files, oldest first; files[0] is read.
	// Files numbered nextN and up are not opened yet.
	started bool
	files   []*chainFile
	nextN   uint64
	pos     *position

	// gap: files before the next one to open were lost: the next file does
	// not continue the line the current one ends with.
	gap bool
	// fromEnd: the chain starts at the end of its newest file (read_from =
	// "end"), when there is room to open it.
	fromEnd bool
	// waitingRoom: its newest file waits for room under max_open_files (it
	// is in Follower.waiting).
	waitingRoom bool
	// k: the files of a Kubernetes target (kube.go); nil for the others.
	k *kubeFiles
	// ignoredSize: the Logrotate file was left alone as older than
	// ignore_older at this size (-1: not ignored).
	ignoredSize int64

	poll       tail.Poll // idle chains are polled with a backoff (see tail.Poll)
	lastGrowth time.Time
	eof        bool // the last read reached the end of the last file
	readErr    string

	// terminal and gone mirror the group; endAt is when the chain was
	// first known to be written no more (terminal, gone, or its only file
	// deleted); zero while it may be written.
	terminal bool
	gone     bool
	endAt    time.Time
	closed   bool
	// vanished: its file was deleted while parked (a Logrotate chain's
	// position is dropped when it is released).
	vanished bool
	// wake: read it even if parked and unchanged (its reads were rewound).
	wake bool

	// ackedAt is the UnixNano of the last time the committed position
	// of one of its files moved (0: never), to within a scan interval,
	// for the status page; stored by the files' commitHook on the
	// acknowledging goroutines.
	ackedAt atomic.Int64
}

// commitHook is the OnCommit hook of one file of a chain: it runs when the
// file's committed position moves (a batch acknowledged by every sink,
// bytes skipped, a rewind) and marks the checkpoint dirty; once armed
// (after the file's start offset was set, which commits too) it also
// stores the time in the chain: the follower's clock (statusBoard.tick),
// at most a scan interval old. Atomic loads and at most one store per
// tick of the clock: no lock, no allocation, no clock read.
type commitHook struct {
	c     *chain
	mark  func()
	clock *atomic.Int64
	armed atomic.Bool
}

func (h *commitHook) run() {
	h.mark()
	// Stored only when the clock moved since: within one tick of the
	// clock, acknowledgements cost plain loads, not a locked store.
	if now := h.clock.Load(); h.armed.Load() && h.c.ackedAt.Load() != now {
		h.c.ackedAt.Store(now)
	}
}

// lastAcknowledged is when the chain's committed position last moved
// (zero: not since it was followed).
func (c *chain) lastAcknowledged() time.Time {
	if n := c.ackedAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// chainFile is one open file of a chain. The budget may park the reader
// of a chain's only file (see budget.go).
type chainFile struct {
	n       uint64
	r       *tail.Reader
	slot    *tail.Slot
	fp      *filePos
	deleted bool
	// afterGap: files before this one were lost, so it does not continue
	// the line the previous open file ends with (see leave).
	afterGap bool
	// writtenParked: fsnotify reported a write to it while it was parked.
	writtenParked bool
}

// onlyFileDeleted reports whether the chain's last open file is deleted
// and nothing follows it.
func (c *chain) onlyFileDeleted() bool {
	return len(c.files) == 1 && c.files[0].deleted
}

// numbered reports whether the chain's files are Numbered ones.
func (c *chain) numbered() bool { return c.t.Scheme == discovery.Numbered }

// attrsOf turns a target's log attributes into slog arguments.
func attrsOf(t *discovery.Target) []any {
	out := make([]any, len(t.Attrs))
	for i, a := range t.Attrs {
		out[i] = slog.Attr(a)
	}
	return out
}

// with returns the chain's attributes followed by kv, for a log call.
func (c *chain) with(kv ...any) []any {
	out := make([]any, 0, len(c.attrs)+len(kv))
	out = append(out, c.attrs...)
	return append(out, kv...)
}

// behindBytes is the number of bytes of the chain's open files not read
// yet.
func (c *chain) behindBytes() int64 {
	var n int64
	for _, cf := range c.files {
		n += cf.r.Behind()
	}
	return n
}
