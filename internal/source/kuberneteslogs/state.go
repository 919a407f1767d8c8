package kuberneteslogs

import (
	"cmp"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/follow"
	"github.com/drover-dev/drover/internal/tail"
)

// stateVersion is the version of the checkpoint format below.
const stateVersion = 1

// state is the checkpoint of a kubernetes_logs source, saved as
// <data_dir>/checkpoints/kubernetes_logs-<id>.json inside a
// checkpoint.File envelope:
//
//	{"version":1,"written_at":"…","state":{"containers":[
//	  {"pod_uid":"5b1c…","container":"api","file":3,
//	   "path":"/var/log/pods/apps_api-7d9_5b1c…/api/0.log",
//	   "dev":2049,"ino":1234,"head_len":1024,"head_crc32c":305419896,
//	   "offset":4096,"last_seen":"…","at_end":false,"last_file":4,
//	   "later":[{"name":"1.log.20261207-172011","dev":2049,"ino":1240,
//	             "head_len":1024,"head_crc32c":2271560481}]}]}}
//
// One entry per container of a pod: it resumes in the file with that
// device and inode (wherever the kubelet's rotation renamed it) at offset,
// when its first head_len bytes still have the CRC-32C head_crc32c; the
// files before it in the scheme's order are done. file and last_file
// number the container's files in the order drover saw them; path is
// where its first unfinished file was when drover opened it, which says
// where to resume when that file is gone (see internal/follow/kube.go).
// later (optional, added in the second release without a version change:
// a checkpoint without it reads as before) lists the files after the
// position's that held lines not acknowledged yet; the next start
// reports those the kubelet removed meanwhile (internal/follow/kubelater.go).
type state struct {
	Containers []containerState `json:"containers"`
}

type containerState struct {
	PodUID    string       `json:"pod_uid"`
	Container string       `json:"container"`
	File      uint64       `json:"file"`
	Path      string       `json:"path,omitempty"`
	Dev       uint64       `json:"dev"`
	Ino       uint64       `json:"ino"`
	HeadLen   int          `json:"head_len"`
	HeadCRC   uint32       `json:"head_crc32c"`
	Offset    int64        `json:"offset"`
	LastSeen  time.Time    `json:"last_seen"`
	AtEnd     *bool        `json:"at_end,omitempty"`
	LastFile  *uint64      `json:"last_file,omitempty"`
	Later     []laterState `json:"later,omitempty"`
}

// laterState is a file after a container's position (follow.LaterFile).
type laterState struct {
	Name    string `json:"name"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	HeadLen int    `json:"head_len"`
	HeadCRC uint32 `json:"head_crc32c"`
}

// store keeps the follower's positions in the kubernetes_logs format.
type store struct {
	file checkpoint.File
	log  *slog.Logger
	errs prometheus.Counter
}

func (s *store) Path() string { return s.file.Path }

// Save writes every container's position, sorted.
func (s *store) Save(ps []follow.Position) error {
	st := state{Containers: make([]containerState, 0, len(ps))}
	for _, p := range ps {
		uid, container, ok := splitKey(p.Key)
		if !ok {
			continue
		}
		fp := p.Fingerprint
		st.Containers = append(st.Containers, containerState{
			PodUID: uid, Container: container, File: p.File, Path: p.Path,
			Dev: fp.Dev, Ino: fp.Ino, HeadLen: fp.HeadLen, HeadCRC: fp.HeadCRC,
			Offset: p.Offset, LastSeen: p.LastSeen, AtEnd: p.AtEnd, LastFile: p.LastFile, Later: laterStates(p.Later),
		})
	}
	slices.SortFunc(st.Containers, func(a, b containerState) int {
		return cmp.Or(strings.Compare(a.PodUID, b.PodUID), strings.Compare(a.Container, b.Container))
	})
	return s.file.Save(st)
}

// Load reads the checkpoint. A damaged one is logged, counted and ignored
// (it existed: this is not a first start); an unreadable one is an error.
func (s *store) Load() ([]follow.Position, bool, error) {
	var st state
	found, unusable, err := s.file.LoadReported(&st, s.log, s.errs, "containers are read from their beginning")
	if err != nil || !found {
		return nil, unusable, err
	}
	out := make([]follow.Position, 0, len(st.Containers))
	for _, e := range st.Containers {
		if e.PodUID == "" || e.Container == "" || strings.Contains(e.PodUID, "/") || strings.Contains(e.Container, "/") {
			continue
		}
		out = append(out, follow.Position{
			Key: e.PodUID + "/" + e.Container, File: e.File, Path: e.Path,
			Fingerprint: tail.Fingerprint{FileID: tail.FileID{Dev: e.Dev, Ino: e.Ino}, HeadLen: e.HeadLen, HeadCRC: e.HeadCRC},
			Offset:      e.Offset, LastSeen: e.LastSeen, AtEnd: e.AtEnd, LastFile: e.LastFile, Later: laterFiles(e.Later),
		})
	}
	return out, true, nil
}

func laterStates(ls []follow.LaterFile) []laterState {
	if len(ls) == 0 {
		return nil
	}
	out := make([]laterState, len(ls))
	for i, l := range ls {
		fp := l.Fingerprint
		out[i] = laterState{Name: l.Name, Dev: fp.Dev, Ino: fp.Ino, HeadLen: fp.HeadLen, HeadCRC: fp.HeadCRC}
	}
	return out
}

func laterFiles(ls []laterState) []follow.LaterFile {
	if len(ls) == 0 {
		return nil
	}
	out := make([]follow.LaterFile, len(ls))
	for i, l := range ls {
		out[i] = follow.LaterFile{Name: l.Name,
			Fingerprint: tail.Fingerprint{FileID: tail.FileID{Dev: l.Dev, Ino: l.Ino}, HeadLen: l.HeadLen, HeadCRC: l.HeadCRC}}
	}
	return out
}

// splitKey splits a target key "<pod_uid>/<container>".
func splitKey(key string) (uid, container string, ok bool) {
	uid, container, ok = strings.Cut(key, "/")
	return uid, container, ok && uid != "" && container != ""
}

// keyAttrs names a container by its key in the follower's logs.
func keyAttrs(key string) []any {
	uid, container, _ := splitKey(key)
	return []any{"pod_uid", uid, "container", container}
}
