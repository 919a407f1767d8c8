package nomadlogs

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/tail"
)

// stateVersion is the version of the checkpoint format below.
const stateVersion = 1

// state is the checkpoint of a nomad_logs source, saved as
// <data_dir>/checkpoints/nomad_logs-<id>.json inside a checkpoint.File
// envelope:
//
//	{"version":1,"written_at":"…","state":{"streams":[
//	  {"alloc_id":"5b1c…","task":"api","stream":"stdout","file":3,
//	   "dev":2049,"ino":1234,"head_len":1024,"head_crc32c":305419896,
//	   "offset":4096,"last_seen":"…"}]}}
//
// One entry per task stream (allocation x task x stream): the stream
// resumes in file <task>.<stream>.<file> at offset when that file's first
// head_len bytes still have the CRC-32C head_crc32c; files with a lower
// number are done.
//
// alloc_dir is the alloc dir the source read last, learned from the agent
// (or configured): a source that starts while the agent cannot be asked
// reads below it until the agent answers. Absent in checkpoints of the
// first release.
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
	// AtEnd: the position was the end of the stream as far as drover had
	// seen it (everything it saw written was acknowledged). A stream whose
	// allocation is collected while drover is down lost nothing drover
	// had seen when it is at its end; else its unread lines are reported
	// lost. Absent in checkpoints of the first release.
	AtEnd *bool `json:"at_end,omitempty"`
}

func (e *streamState) id() streamID {
	return streamID{alloc: e.AllocID, task: e.Task, stream: nomad.Stream(e.Stream)}
}

// snapshot returns the state to save: every stream's checkpoint, sorted.
func (s *Source) snapshot(now time.Time) state {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := state{AllocDir: s.lastAllocDir, Streams: make([]streamState, 0, len(s.streams)+len(s.positions))}
	add := func(id streamID, p *position, seen time.Time) {
		n, fp, off, ok := p.current()
		if !ok {
			return
		}
		st.Streams = append(st.Streams, streamState{
			AllocID: id.alloc, Task: id.task, Stream: string(id.stream), File: n,
			Dev: fp.Dev, Ino: fp.Ino, HeadLen: fp.HeadLen, HeadCRC: fp.HeadCRC,
			Offset: off, LastSeen: seen.UTC(), AtEnd: p.atEnd(n, off),
		})
	}
	for id, x := range s.streams {
		add(id, x.pos, now)
	}
	for id, p := range s.positions {
		add(id, p, p.lastSeen)
	}
	// Sorted field by field: no key is built per comparison, which counts
	// with thousands of streams (the run loop waits for mu meanwhile).
	slices.SortFunc(st.Streams, func(a, b streamState) int {
		return cmp.Or(strings.Compare(a.AllocID, b.AllocID), strings.Compare(a.Task, b.Task), strings.Compare(a.Stream, b.Stream))
	})
	return st
}

// save writes the checkpoint; it is the Flusher's save function.
func (s *Source) save() error {
	return s.store.Save(s.snapshot(time.Now()))
}

// load reads the checkpoint into positions. A corrupt checkpoint is
// logged, counted and ignored; an unreadable one is an error. It reports
// whether a checkpoint existed (usable or not).
func (s *Source) load() (bool, error) {
	var st state
	found, unusable, err := s.store.LoadReported(&st, s.log, s.m.Errors("checkpoint"), "streams are read from their beginning")
	if err != nil || !found {
		// An unusable checkpoint existed: this is not a first start.
		return unusable, err
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.allocDir == "" && st.AllocDir != "" {
		// Until the agent tells (it may be down while drover starts).
		s.allocDir, s.lastAllocDir = st.AllocDir, st.AllocDir
		s.log.Info("reading task logs below the alloc dir of the last run until the agent tells", "alloc_dir", st.AllocDir)
	}
	for _, e := range st.Streams {
		if e.AllocID == "" || e.Task == "" || !nomad.Stream(e.Stream).Valid() {
			continue
		}
		seen := e.LastSeen
		if seen.IsZero() {
			seen = now
		}
		fp := tail.Fingerprint{FileID: tail.FileID{Dev: e.Dev, Ino: e.Ino}, HeadLen: e.HeadLen, HeadCRC: e.HeadCRC}
		p := &position{lastSeen: seen, loadedAtEnd: e.AtEnd}
		p.add(e.File, tail.NewProgress(fp, e.Offset, nil, nil))
		s.positions[e.id()] = p
	}
	s.log.Debug("loaded checkpoint", "path", s.store.Path, "streams", len(st.Streams))
	return true, nil
}

// prunePositions forgets the positions of streams whose allocation
// directory has not been seen for longer than checkpoint_retention.
func (s *Source) prunePositions(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range s.positions {
		if now.Sub(p.lastSeen) > s.cfg.CheckpointRetention {
			delete(s.positions, id)
			s.flusher.Mark()
			s.log.Debug("forgetting the position of a stream gone for longer than checkpoint_retention", "stream", id.String())
		}
	}
}
