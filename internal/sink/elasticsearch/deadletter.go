package elasticsearch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/jsonenc"
)

// deadLetter appends the documents the cluster refused to a file, one JSON
// object per line:
//
//	{"time":"...","status":400,"error":{"type":"...","reason":"..."},"action":{"create":{...}},"document":{...}}
//
// Writes are appended and synced; the file is opened on the first write
// and closed by close. It is safe for concurrent use.
type deadLetter struct {
	path string
	max  int64

	mu   sync.Mutex
	f    *os.File
	size int64
	full bool // the last write did not fit under max
}

func newDeadLetter(c *DeadLetterConfig, dataDir string) *deadLetter {
	path := c.Path
	if !filepath.IsAbs(path) {
		path = filepath.Join(dataDir, path)
	}
	max := int64(c.MaxBytes)
	if max == 0 {
		max = int64(DefaultDeadLetterBytes)
	}
	return &deadLetter{path: path, max: max}
}

// errDeadLetterFull: the file reached dead_letter.max_bytes.
var errDeadLetterFull = errors.New("the dead-letter file reached dead_letter.max_bytes")

// appendRecord appends one dead-letter line to dst. action and doc are the
// item's two NDJSON lines without their newlines, both valid JSON.
func appendRecord(dst []byte, now time.Time, status int, errType, reason string, action, doc []byte) []byte {
	dst = append(dst, `{"time":`...)
	dst = jsonenc.AppendTime(dst, now)
	dst = append(dst, `,"status":`...)
	dst = jsonenc.AppendInt(dst, int64(status))
	dst = append(dst, `,"error":{"type":`...)
	dst = jsonenc.AppendString(dst, errType)
	dst = append(dst, `,"reason":`...)
	dst = jsonenc.AppendString(dst, reason)
	dst = append(dst, `},"action":`...)
	dst = append(dst, action...)
	dst = append(dst, `,"document":`...)
	dst = append(dst, doc...)
	return append(dst, "}\n"...)
}

// write appends records (whole lines) and syncs the file. When they do
// not fit under the size limit, nothing is written and the error is
// errDeadLetterFull; first reports whether this starts a run of such
// refusals, for logging once.
func (d *deadLetter) write(records []byte) (first bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o750); err != nil {
			return true, fmt.Errorf("dead-letter file: %w", err)
		}
		f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return true, fmt.Errorf("dead-letter file: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return true, fmt.Errorf("dead-letter file: %w", err)
		}
		d.f, d.size = f, st.Size()
	}
	if d.size+int64(len(records)) > d.max {
		first, d.full = !d.full, true
		return first, fmt.Errorf("%s: %w (%d bytes)", d.path, errDeadLetterFull, d.max)
	}
	d.full = false
	n, err := d.f.Write(records)
	d.size += int64(n)
	if err == nil {
		err = d.f.Sync()
	}
	if err != nil {
		return true, fmt.Errorf("writing the dead-letter file %s: %w", d.path, err)
	}
	return false, nil
}

// close closes the file; the next write opens it again.
func (d *deadLetter) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}
