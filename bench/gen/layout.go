package gen

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
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
		if err := l.createAllocDir(a); err != nil {
			return files, err
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

// createAllocDir makes an allocation's log directory with logmon's named
// pipes .app.stdout.fifo and .app.stderr.fifo.
func (l *Layout) createAllocDir(a Alloc) error {
	dir := LogsDir(l.AllocDir, a.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating allocation directory: %w", err)
	}
	for _, s := range []string{"stdout", "stderr"} {
		fifo := filepath.Join(dir, "."+Task+"."+s+".fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			return fmt.Errorf("creating %s: %w", fifo, err)
		}
	}
	return nil
}

// First returns the layout of the first n allocations (and their streams)
// of l: the node before the others start.
func (l *Layout) First(n int) *Layout {
	sub := *l
	sub.Allocs = l.Allocs[:n]
	sub.Streams = nil
	for _, st := range l.Streams {
		if st.Alloc < n {
			sub.Streams = append(sub.Streams, st)
		}
	}
	return &sub
}

// StartAlloc starts allocation i of a Nomad layout as its task's first
// moments look on disk: logmon creates the log directory, its pipes and
// file 0 of both streams, and the task writes its first line to each of
// its streams (sequence number 0, stamped with the time of the write). It
// returns the bytes written.
func (l *Layout) StartAlloc(i int, maxSize int64, maxFiles int) (int64, error) {
	a := l.Allocs[i]
	if err := l.createAllocDir(a); err != nil {
		return 0, err
	}
	var files []*File
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	for _, st := range l.Streams {
		if st.Alloc != i {
			continue
		}
		f, err := CreateFile(st.Dir, Task, st.Name, maxSize, maxFiles)
		if err != nil {
			return 0, err
		}
		files = append(files, f)
	}
	var n int64
	var buf []byte
	k := 0
	for _, st := range l.Streams {
		if st.Alloc != i {
			continue
		}
		buf = append(AppendLine(buf[:0], st.ID, 0, time.Now().UnixNano()), '\n')
		if err := files[k].Write(buf); err != nil {
			return n, err
		}
		n += int64(len(buf))
		k++
	}
	return n, nil
}

// streamFile is how a Writer writes one stream: logmon's files or a
// container's CRI file.
type streamFile interface {
	Write(p []byte) error
	Close() error
}
