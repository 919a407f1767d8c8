package file

import (
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/discovery/glob"
	"github.com/drover-dev/drover/internal/follow"
	"github.com/drover-dev/drover/internal/tail"
)

// stateVersion is the version of the checkpoint format below.
const stateVersion = 1

// state is the checkpoint of a file source, saved as
// <data_dir>/checkpoints/file-<id>.json inside a checkpoint.File envelope:
//
//	{"version":1,"written_at":"…","state":{"files":[
//	  {"path":"/var/log/app.log","dev":2049,"ino":1234,"head_len":1024,
//	   "head_crc32c":305419896,"offset":4096,"last_seen":"…","at_end":true}]}}
type state struct {
	Files []fileState `json:"files"`
}

// fileState is the committed position of one file. A file found by a scan
// resumes at Offset when its device and inode equal Dev and Ino and the
// CRC-32C of its first HeadLen bytes equals HeadCRC. AtEnd says whether
// the offset was the end of the file as far as drover had read it (absent
// in checkpoints of the first release).
type fileState struct {
	Path     string    `json:"path"`
	Dev      uint64    `json:"dev"`
	Ino      uint64    `json:"ino"`
	HeadLen  int       `json:"head_len"`
	HeadCRC  uint32    `json:"head_crc32c"`
	Offset   int64     `json:"offset"`
	LastSeen time.Time `json:"last_seen"`
	AtEnd    *bool     `json:"at_end,omitempty"`
}

// store keeps the follower's positions in the file source's format.
type store struct {
	file checkpoint.File
	log  *slog.Logger
	errs prometheus.Counter
}

func (s *store) Path() string { return s.file.Path }

// Save writes every position, sorted by path.
func (s *store) Save(ps []follow.Position) error {
	st := state{Files: make([]fileState, 0, len(ps))}
	for _, p := range ps {
		fp := p.Fingerprint
		st.Files = append(st.Files, fileState{
			Path: p.Path, Dev: fp.Dev, Ino: fp.Ino, HeadLen: fp.HeadLen, HeadCRC: fp.HeadCRC,
			Offset: p.Offset, LastSeen: p.LastSeen, AtEnd: p.AtEnd,
		})
	}
	sort.Slice(st.Files, func(i, j int) bool {
		a, b := st.Files[i], st.Files[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Ino < b.Ino
	})
	return s.file.Save(st)
}

// Load reads the positions. A damaged checkpoint is logged, counted and
// ignored; an unreadable one is an error.
func (s *store) Load() ([]follow.Position, bool, error) {
	var st state
	found, unusable, err := s.file.LoadReported(&st, s.log, s.errs, "files are read according to read_from")
	if err != nil || !found {
		return nil, unusable, err
	}
	out := make([]follow.Position, 0, len(st.Files))
	for _, e := range st.Files {
		id := tail.FileID{Dev: e.Dev, Ino: e.Ino}
		out = append(out, follow.Position{
			Key: glob.Key(id), Path: e.Path,
			Fingerprint: tail.Fingerprint{FileID: id, HeadLen: e.HeadLen, HeadCRC: e.HeadCRC},
			Offset:      e.Offset, LastSeen: e.LastSeen, AtEnd: e.AtEnd,
		})
	}
	return out, true, nil
}
