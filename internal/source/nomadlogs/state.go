package nomadlogs

import (
	"cmp"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/follow"
	"github.com/drover-dev/drover/internal/tail"
)

// stateVersion is the version of the checkpoint format below.
const stateVersion = 1

// state is the checkpoint of a nomad_logs source, saved as
// <data_dir>/checkpoints/nomad_logs-<id>.json inside a checkpoint.File
// envelope:
//
//	{"version":1,"written_at":"…","state":{"alloc_dir":"/opt/nomad/data/alloc","streams":[
//	  {"alloc_id":"5b1c…","task":"api","stream":"stdout","file":3,
//	   "dev":2049,"ino":1234,"head_len":1024,"head_crc32c":305419896,
//	   "offset":4096,"last_seen":"…","at_end":false,"last_file":4}]}}
//
// One entry per task stream (allocation x task x stream): the stream
// resumes in file <task>.<stream>.<file> at offset when that file's first
// head_len bytes still have the CRC-32C head_crc32c; files with a lower
// number are done. at_end says whether the offset was the end of the
// stream as far as drover had seen it, last_file the newest file of the
// stream it had seen: a stream whose allocation is collected while drover
// is down is reported lost (those files) when it was not at its end.
//
// alloc_dir is the alloc dir the source read last, learned from the agent
// (or configured): a source that starts while the agent cannot be asked
// reads below it until the agent answers. alloc_dir, at_end and last_file
// are absent in checkpoints of the first release.
type state struct {
	AllocDir string        `json:"alloc_dir,omitempty"`
	Streams  []streamState `json:"streams"`
}

// streamState is the committed position of one stream.
type streamState struct {
	AllocID  string    `json:"alloc_id"`
	Task     string    `json:"task"`
	Stream   string    `json:"stream"`
	File     uint64    `json:"file"`
	Dev      uint64    `json:"dev"`
	Ino      uint64    `json:"ino"`
	HeadLen  int       `json:"head_len"`
	HeadCRC  uint32    `json:"head_crc32c"`
	Offset   int64     `json:"offset"`
	LastSeen time.Time `json:"last_seen"`
	AtEnd    *bool     `json:"at_end,omitempty"`
	LastFile *uint64   `json:"last_file,omitempty"`
}

// store keeps the follower's positions, and the alloc dir in use, in the
// nomad_logs format.
type store struct {
	file checkpoint.File
	log  *slog.Logger
	errs prometheus.Counter

	mu       sync.Mutex
	allocDir string // in use (saved), or loaded until the discoverer says
}

func (s *store) Path() string { return s.file.Path }

// setAllocDir records the alloc dir in use.
func (s *store) setAllocDir(dir string) {
	s.mu.Lock()
	s.allocDir = dir
	s.mu.Unlock()
}

// lastAllocDir is the alloc dir of the checkpoint (or the one in use).
func (s *store) lastAllocDir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allocDir
}

// Save writes every stream's position, sorted field by field (no key is
// built per comparison, which counts with thousands of streams).
func (s *store) Save(ps []follow.Position) error {
	st := state{AllocDir: s.lastAllocDir(), Streams: make([]streamState, 0, len(ps))}
	for _, p := range ps {
		attrs := nomad.KeyAttrs(p.Key)
		fp := p.Fingerprint
		st.Streams = append(st.Streams, streamState{
			AllocID: attrs[1].(string), Task: attrs[3].(string), Stream: attrs[5].(string), File: p.File,
			Dev: fp.Dev, Ino: fp.Ino, HeadLen: fp.HeadLen, HeadCRC: fp.HeadCRC,
			Offset: p.Offset, LastSeen: p.LastSeen, AtEnd: p.AtEnd, LastFile: p.LastFile,
		})
	}
	slices.SortFunc(st.Streams, func(a, b streamState) int {
		return cmp.Or(strings.Compare(a.AllocID, b.AllocID), strings.Compare(a.Task, b.Task), strings.Compare(a.Stream, b.Stream))
	})
	return s.file.Save(st)
}

// Load reads the checkpoint. A damaged one is logged, counted and ignored
// (it existed: this is not a first start); an unreadable one is an error.
func (s *store) Load() ([]follow.Position, bool, error) {
	var st state
	found, unusable, err := s.file.LoadReported(&st, s.log, s.errs, "streams are read from their beginning")
	if err != nil || !found {
		return nil, unusable, err
	}
	if st.AllocDir != "" {
		s.setAllocDir(st.AllocDir)
	}
	out := make([]follow.Position, 0, len(st.Streams))
	for _, e := range st.Streams {
		if e.AllocID == "" || e.Task == "" || !nomad.Stream(e.Stream).Valid() ||
			strings.Contains(e.AllocID, "/") || strings.Contains(e.Task, "/") {
			continue
		}
		out = append(out, follow.Position{
			Key: e.AllocID + "/" + e.Task + "/" + e.Stream, File: e.File,
			Fingerprint: tail.Fingerprint{FileID: tail.FileID{Dev: e.Dev, Ino: e.Ino}, HeadLen: e.HeadLen, HeadCRC: e.HeadCRC},
			Offset:      e.Offset, LastSeen: e.LastSeen, AtEnd: e.AtEnd, LastFile: e.LastFile,
		})
	}
	return out, true, nil
}
