package gen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Container is the container name of every benchmark pod.
const Container = "app"

// NewKubeLayout describes a Kubernetes node with n written streams below
// podsDir (the kubelet's /var/log/pods): n pods of one container each,
// whose stdout is stream i, in the directory
// <podsDir>/<namespace>_<pod>_<uid>/app. Allocs describe the pods (ID is
// the pod's UID, Job its name). Nothing is written to disk.
func NewKubeLayout(podsDir string, n int) *Layout {
	l := &Layout{AllocDir: podsDir, Kubernetes: true}
	for i := range n {
		a := Alloc{
			ID:        fmt.Sprintf("c0c0%04x-%04x-4000-8000-%012x", i>>16, i&0xffff, i),
			Namespace: []string{"default", "apps", "platform"}[i%3],
			Job:       fmt.Sprintf("svc-%02d-%d", i%40, i),
			Group:     "web",
			Index:     i / 40,
		}
		l.Allocs = append(l.Allocs, a)
		l.Streams = append(l.Streams, Stream{ID: i, Alloc: i, Name: "stdout",
			Dir: filepath.Join(podsDir, a.Namespace+"_"+a.Job+"_"+a.ID, Container)})
	}
	return l
}

// criMaxLine is containerd's max_container_log_line_size: longer lines
// are written as P records of this size, the rest F.
const criMaxLine = 16384

// CRIFile writes one container's stdout as containerd and the kubelet do
// (see internal/kubetest/podlogs for the sources they follow): every line
// as a CRI record "<RFC3339Nano time> stdout <P|F> <content>\n", in
// 0.log; when it reaches maxSize, the kubelet's rotation renames it to
// 0.log.<YYYYMMDD-hhmmss> and the runtime reopens 0.log, the rotated
// files beyond maxFiles-1 deleted, oldest first (uncompressed: the
// compression is the kubelet's CPU, not the shipper's). A CRIFile is not
// safe for concurrent use.
type CRIFile struct {
	dir      string
	maxSize  int64
	maxFiles int
	f        *os.File
	size     int64
	buf      []byte
	rotated  []string
	stamp    time.Time
}

// CreateCRIFile creates dir/0.log.
func CreateCRIFile(dir string, maxSize int64, maxFiles int) (*CRIFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating container log directory: %w", err)
	}
	w := &CRIFile{dir: dir, maxSize: maxSize, maxFiles: maxFiles, stamp: time.Now().UTC()}
	return w, w.open()
}

func (w *CRIFile) path() string { return filepath.Join(w.dir, "0.log") }

func (w *CRIFile) open() error {
	f, err := os.OpenFile(w.path(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("creating container log file: %w", err)
	}
	w.f, w.size = f, 0
	return nil
}

// Write writes the lines of p (each ended by '\n') as CRI records.
func (w *CRIFile) Write(p []byte) error {
	now := time.Now().UTC()
	buf := w.buf[:0]
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		line := p
		if i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		for len(line) > criMaxLine {
			buf = appendCRI(buf, now, 'P', line[:criMaxLine])
			line = line[criMaxLine:]
		}
		buf = appendCRI(buf, now, 'F', line)
	}
	w.buf = buf
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(buf)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	if _, err := w.f.Write(buf); err != nil {
		return fmt.Errorf("writing %s: %w", w.path(), err)
	}
	w.size += int64(len(buf))
	return nil
}

func appendCRI(dst []byte, t time.Time, tag byte, content []byte) []byte {
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, " stdout "...)
	dst = append(dst, tag, ' ')
	dst = append(dst, content...)
	return append(dst, '\n')
}

// rotate renames 0.log as the kubelet does and reopens it. Rotations are
// named one second apart (the kubelet's names have seconds; a benchmark
// rotates faster than that).
func (w *CRIFile) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	w.stamp = w.stamp.Add(time.Second)
	to := w.path() + "." + w.stamp.Format("20060102-150405")
	if err := os.Rename(w.path(), to); err != nil {
		return err
	}
	w.rotated = append(w.rotated, to)
	slices.Sort(w.rotated)
	for w.maxFiles > 1 && len(w.rotated) > w.maxFiles-1 {
		if err := os.Remove(w.rotated[0]); err != nil {
			return err
		}
		w.rotated = w.rotated[1:]
	}
	return w.open()
}

// Close closes the file being written.
func (w *CRIFile) Close() error { return w.f.Close() }
