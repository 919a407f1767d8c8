package gen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// File writes one task stream the way Nomad's logmon does
// (client/logmon/logging/rotator.go): files <task>.<stream>.N in a log
// directory, N from 0, each at most maxSize bytes. After creating N+1 the files
// beyond MaxFiles are deleted, oldest first (MaxFiles <= 0 keeps every file).
// Unlike logmon there is no 64 KiB buffer flushed every 100 ms: every Write
// reaches the file at once, so that latency measurements see the shipper
// only. A File is not safe for concurrent use.
type File struct {
	dir, task, stream string
	maxSize           int64
	maxFiles          int

	f    *os.File
	n    int
	size int64
}

// CreateFile creates file 0 of a task stream in dir, as logmon does when
// the task starts.
func CreateFile(dir, task, stream string, maxSize int64, maxFiles int) (*File, error) {
	if maxSize <= 0 {
		return nil, fmt.Errorf("log file size limit must be positive, got %d", maxSize)
	}
	w := &File{dir: dir, task: task, stream: stream, maxSize: maxSize, maxFiles: maxFiles}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

// Path returns the path of file n.
func (w *File) Path(n int) string {
	return filepath.Join(w.dir, w.task+"."+w.stream+"."+strconv.Itoa(n))
}

func (w *File) open() error {
	f, err := os.OpenFile(w.Path(w.n), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("creating task log file: %w", err)
	}
	w.f, w.size = f, 0
	return nil
}

// rotate closes file N, creates N+1 and deletes the files beyond maxFiles.
func (w *File) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", w.Path(w.n), err)
	}
	w.n++
	if err := w.open(); err != nil {
		return err
	}
	if w.maxFiles > 0 {
		for old := w.n - w.maxFiles; old >= 0; old-- {
			if err := os.Remove(w.Path(old)); err != nil {
				break // deleted already
			}
		}
	}
	return nil
}

// Write appends p, rotating as logmon does: what does not fit in the
// current file is cut after its last line that fits, and continues in the
// next file; a line that fits in no file is split.
func (w *File) Write(p []byte) error {
	for len(p) > 0 {
		room := w.maxSize - w.size
		if room <= 0 {
			if err := w.rotate(); err != nil {
				return err
			}
			continue
		}
		k := len(p)
		if int64(len(p)) > room {
			first := bytes.IndexByte(p, '\n') + 1
			if first == 0 {
				first = len(p)
			}
			switch i := bytes.LastIndexByte(p[:room], '\n'); {
			case i >= 0:
				k = i + 1
			case w.size > 0 && int64(first) <= w.maxSize:
				// The next line fits in a file of its own: start it.
				if err := w.rotate(); err != nil {
					return err
				}
				continue
			default:
				k = int(room)
			}
		}
		if _, err := w.f.Write(p[:k]); err != nil {
			return fmt.Errorf("writing %s: %w", w.Path(w.n), err)
		}
		w.size += int64(k)
		p = p[k:]
	}
	return nil
}

// Current is the number of the file being written.
func (w *File) Current() int { return w.n }

// Close closes the file being written.
func (w *File) Close() error { return w.f.Close() }
