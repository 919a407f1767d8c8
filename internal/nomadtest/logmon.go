package nomadtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// LogsDir returns <allocDir>/<id>/alloc/logs, where a client keeps the task
// logs of an allocation.
func LogsDir(allocDir, id string) string { return filepath.Join(allocDir, id, "alloc", "logs") }

// MakeAllocDir creates an allocation's log directory as a Nomad client
// does, with logmon's named pipes .<task>.stdout.fifo and
// .<task>.stderr.fifo beside the files, and returns the directory.
func MakeAllocDir(tb testing.TB, allocDir, id string, tasks ...string) string {
	tb.Helper()
	dir := LogsDir(allocDir, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatalf("nomadtest: %v", err)
	}
	for _, task := range tasks {
		for _, stream := range []string{"stdout", "stderr"} {
			if err := syscall.Mkfifo(filepath.Join(dir, "."+task+"."+stream+".fifo"), 0o600); err != nil {
				tb.Fatalf("nomadtest: %v", err)
			}
		}
	}
	return dir
}

// Logmon writes one task stream the way Nomad's logmon does
// (client/logmon/logging/rotator.go): files <task>.<stream>.N of at most
// MaxSize bytes, starting with N = 0; a write that does not fit is split,
// even in the middle of a line, and continues in a new file N+1; after
// creating it, the files beyond MaxFiles are deleted, oldest first. Writes
// go straight to the file (no 100 ms buffer). Safe for concurrent use.
type Logmon struct {
	tb       testing.TB
	dir      string
	task     string
	stream   string
	maxSize  int64
	maxFiles int

	mu      sync.Mutex
	n       uint64
	size    int64
	written []string
}

// NewLogmon creates file 0 of the task's stream in dir (a log directory),
// as logmon does when the task starts. maxFiles <= 0 keeps every file.
func NewLogmon(tb testing.TB, dir, task, stream string, maxSize int64, maxFiles int) *Logmon {
	l := &Logmon{tb: tb, dir: dir, task: task, stream: stream, maxSize: maxSize, maxFiles: maxFiles}
	l.create()
	return l
}

// Path returns the path of file n.
func (l *Logmon) Path(n uint64) string {
	return filepath.Join(l.dir, l.task+"."+l.stream+"."+strconv.FormatUint(n, 10))
}

// Current is the number of the file being written.
func (l *Logmon) Current() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *Logmon) create() {
	f, err := os.OpenFile(l.Path(l.n), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		l.tb.Errorf("nomadtest: logmon: %v", err)
		return
	}
	_ = f.Close()
	l.size = 0
}

// rotate starts file N+1 and deletes the files beyond maxFiles.
func (l *Logmon) rotate() {
	l.n++
	l.create()
	if l.maxFiles <= 0 || l.n < uint64(l.maxFiles) {
		return
	}
	for old := int64(l.n) - int64(l.maxFiles); old >= 0; old-- {
		if err := os.Remove(l.Path(uint64(old))); err != nil {
			break // deleted already
		}
	}
}

// Write appends p, rotating at the size limit.
func (l *Logmon) Write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writeLocked(p)
}

func (l *Logmon) writeLocked(p []byte) {
	for len(p) > 0 {
		room := l.maxSize - l.size
		if room <= 0 {
			l.rotate()
			continue
		}
		k := min(int64(len(p)), room)
		f, err := os.OpenFile(l.Path(l.n), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			l.tb.Errorf("nomadtest: logmon: %v", err)
			return
		}
		if _, err := f.Write(p[:k]); err != nil {
			l.tb.Errorf("nomadtest: logmon: %v", err)
		}
		_ = f.Close()
		l.size += k
		p = p[k:]
	}
}

// Lines writes the numbered lines "<prefix>-<i>" (i zero-padded to six
// digits) for i in [from, to), chunk lines per write (all at once when
// chunk <= 0), and returns them.
func (l *Logmon) Lines(prefix string, from, to, chunk int) []string {
	var out []string
	var b bytes.Buffer
	for i := from; i < to; i++ {
		m := fmt.Sprintf("%s-%06d", prefix, i)
		out = append(out, m)
		b.WriteString(m)
		b.WriteByte('\n')
		if chunk > 0 && (i-from+1)%chunk == 0 {
			l.Write(b.Bytes())
			b.Reset()
		}
	}
	l.Write(b.Bytes())
	l.mu.Lock()
	l.written = append(l.written, out...)
	l.mu.Unlock()
	return out
}

// Written returns every line Lines wrote, in order.
func (l *Logmon) Written() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.written...)
}

// Files returns the numbers of the stream's files on disk, ascending; none
// when the directory is gone (garbage collection).
func (l *Logmon) Files() []uint64 {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		if !os.IsNotExist(err) {
			l.tb.Errorf("nomadtest: %v", err)
		}
		return nil
	}
	prefix := l.task + "." + l.stream + "."
	var out []uint64
	for _, e := range entries {
		if rest, ok := strings.CutPrefix(e.Name(), prefix); ok {
			if n, err := strconv.ParseUint(rest, 10, 64); err == nil {
				out = append(out, n)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Rotate starts file N+1 now, as logmon does when file N is full (and
// deletes the files beyond MaxFiles).
func (l *Logmon) Rotate() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rotate()
}

// Truncate empties the current file in place (logmon never does; a user
// might).
func (l *Logmon) Truncate() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.Truncate(l.Path(l.n), 0); err != nil {
		l.tb.Errorf("nomadtest: logmon: %v", err)
	}
	l.size = 0
}
