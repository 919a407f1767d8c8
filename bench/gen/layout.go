package gen

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Task is the task name of every benchmark allocation.
const Task = "app"

// Alloc is one allocation of a benchmark node.
type Alloc struct {
	// ID is a UUID, derived from the allocation's index.
	ID string
	// Namespace, Job and Group describe it for the fake Nomad API.
	Namespace, Job, Group string
	// Index is the allocation's index in its group.
	Index int
}

// Stream is one task stream: an allocation's task's stdout or stderr.
type Stream struct {
	// ID is the stream id written into every line (sid), 0-based.
	ID int
	// Alloc is the index of its allocation in Layout.Allocs.
	Alloc int
	// Name is "stdout" or "stderr".
	Name string
	// Dir is the allocation's log directory.
	Dir string
}

// Layout is the alloc dir of a benchmark node with n written streams:
// ceil(n/2) allocations of one task each, whose stdout is stream 2i and
// stderr stream 2i+1. With an odd n the last allocation's stderr is not
// written (its file 0 exists, empty, as logmon creates it).
type Layout struct {
	AllocDir string
	Allocs   []Alloc
	Streams  []Stream
	// Kubernetes: the kubelet's layout and CRI lines (NewKubeLayout).
	Kubernetes bool
}

// NewLayout describes a node with n written streams below allocDir,
// without touching the disk.
func NewLayout(allocDir string, n int) *Layout {
	l := &Layout{AllocDir: allocDir}
	for i := 0; i < (n+1)/2; i++ {
		l.Allocs = append(l.Allocs, Alloc{
			ID:        fmt.Sprintf("b0b0%04x-%04x-4000-8000-%012x", i>>16, i&0xffff, i),
			Namespace: []string{"default", "apps", "platform"}[i%3],
			Job:       fmt.Sprintf("svc-%02d", i%40),
			Group:     "web",
			Index:     i / 40,
		})
	}
	for sid := range n {
		a := sid / 2
		l.Streams = append(l.Streams, Stream{
			ID: sid, Alloc: a, Name: []string{"stdout", "stderr"}[sid%2],
			Dir: LogsDir(allocDir, l.Allocs[a].ID),
		})
	}
	return l
}

// LogsDir returns <allocDir>/<id>/alloc/logs.
func LogsDir(allocDir, id string) string { return filepath.Join(allocDir, id, "alloc", "logs") }

// Create makes every allocation's log directory with logmon's named pipes
// .app.stdout.fifo and .app.stderr.fifo, and opens file 0 of both streams
// of every allocation, with logmon's rotation (see File). The caller
// closes the returned files; files[sid] writes stream sid, and an
// allocation's unwritten stderr is opened and closed here.
func (l *Layout) Create(maxSize int64, maxFiles int) (files []streamFile, err error) {
	if l.Kubernetes {
		for _, st := range l.Streams {
			f, err := CreateCRIFile(st.Dir, maxSize, maxFiles)
			if err != nil {
				for _, f := range files {
					_ = f.Close()
				}
				return nil, err
			}
			files = append(files, f)
		}
		return files, nil
	}
	defer func() {
		if err != nil {
			for _, f := range files {
				_ = f.Close()
			}
			files = nil
		}
	}()
	for _, a := range l.Allocs {
		dir := LogsDir(l.AllocDir, a.ID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return files, fmt.Errorf("creating allocation directory: %w", err)
		}
		for _, s := range []string{"stdout", "stderr"} {
			fifo := filepath.Join(dir, "."+Task+"."+s+".fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				return files, fmt.Errorf("creating %s: %w", fifo, err)
			}
		}
	}
	for _, st := range l.Streams {
		f, err := CreateFile(st.Dir, Task, st.Name, maxSize, maxFiles)
		if err != nil {
			return files, err
		}
		files = append(files, f)
	}
	if len(l.Streams)%2 == 1 {
		last := l.Allocs[len(l.Allocs)-1]
		f, err := CreateFile(LogsDir(l.AllocDir, last.ID), Task, "stderr", maxSize, maxFiles)
		if err != nil {
			return files, err
		}
		_ = f.Close()
	}
	return files, nil
}

// streamFile is how a Writer writes one stream: logmon's files or a
// container's CRI file.
type streamFile interface {
	Write(p []byte) error
	Close() error
}
