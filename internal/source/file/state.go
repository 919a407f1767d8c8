package file

import (
	"sort"
	"time"

	"github.com/drover-dev/drover/internal/tail"
)

// stateVersion is the version of the checkpoint format below.
const stateVersion = 1

// state is the checkpoint of a file source, saved as
// <data_dir>/checkpoints/file-<id>.json inside a checkpoint.File envelope:
//
//	{"version":1,"written_at":"…","state":{"files":[
//	  {"path":"/var/log/app.log","dev":2049,"ino":1234,"head_len":1024,
//	   "head_crc32c":305419896,"offset":4096,"last_seen":"…"}]}}
type state struct {
	Files []fileState `json:"files"`
}

// fileState is the committed position of one file. A file found by a scan
// resumes at Offset when its device and inode equal Dev and Ino and the
// CRC-32C of its first HeadLen bytes equals HeadCRC.
type fileState struct {
	Path     string    `json:"path"`
	Dev      uint64    `json:"dev"`
	Ino      uint64    `json:"ino"`
	HeadLen  int       `json:"head_len"`
	HeadCRC  uint32    `json:"head_crc32c"`
	Offset   int64     `json:"offset"`
	LastSeen time.Time `json:"last_seen"`
}

func (fs fileState) fingerprint() tail.Fingerprint {
	return tail.Fingerprint{FileID: tail.FileID{Dev: fs.Dev, Ino: fs.Ino}, HeadLen: fs.HeadLen, HeadCRC: fs.HeadCRC}
}

func newFileState(path string, fp tail.Fingerprint, offset int64, seen time.Time) fileState {
	return fileState{
		Path: path, Dev: fp.Dev, Ino: fp.Ino, HeadLen: fp.HeadLen, HeadCRC: fp.HeadCRC,
		Offset: offset, LastSeen: seen.UTC(),
	}
}

// knownFile is the position of a file that is not open: loaded from the
// checkpoint and not matched yet, or closed after it disappeared. Its
// Progress keeps receiving the acknowledgements of batches still in flight.
type knownFile struct {
	path     string
	prog     *tail.Progress
	lastSeen time.Time
}

// snapshot returns the state to save: every open file at its committed
// offset and every known file, sorted by path.
func (s *Source) snapshot(now time.Time) state {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := state{Files: make([]fileState, 0, len(s.files)+len(s.known))}
	for _, t := range s.files {
		fp, off := t.r.Progress().Snapshot()
		st.Files = append(st.Files, newFileState(t.path, fp, off, now))
	}
	for _, k := range s.known {
		fp, off := k.prog.Snapshot()
		st.Files = append(st.Files, newFileState(k.path, fp, off, k.lastSeen))
	}
	sort.Slice(st.Files, func(i, j int) bool {
		a, b := st.Files[i], st.Files[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Ino < b.Ino
	})
	return st
}

// save writes the checkpoint; it is the Flusher's save function.
func (s *Source) save() error {
	return s.store.Save(s.snapshot(time.Now()))
}

// load reads the checkpoint into known. A corrupt checkpoint is logged,
// counted and ignored; an unreadable one is an error.
func (s *Source) load() error {
	var st state
	found, _, err := s.store.LoadReported(&st, s.log, s.m.Errors("checkpoint"), "files are read according to read_from")
	if err != nil || !found {
		return err
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range st.Files {
		seen := e.LastSeen
		if seen.IsZero() {
			seen = now
		}
		fp := e.fingerprint()
		s.known[fp.FileID] = &knownFile{path: e.Path, prog: tail.NewProgress(fp, e.Offset, nil, nil), lastSeen: seen}
	}
	s.log.Debug("loaded checkpoint", "path", s.store.Path, "files", len(st.Files))
	return nil
}
