package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const segmentSuffix = ".seg"

// segment is one segment file. Its fields are guarded by the buffer's mutex,
// except w, which only the writer goroutine uses.
type segment struct {
	id   uint64
	path string
	// size is the bytes written to the file (or being written).
	size int64
	// durable is how far the reader may read: the fsynced length of the
	// head, the whole file once sealed.
	durable int64
	// sealed segments are written no more.
	sealed bool
	// w is the head's write handle.
	w *os.File
}

func segmentName(id uint64) string { return fmt.Sprintf("%020d%s", id, segmentSuffix) }

func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	id, err := strconv.ParseUint(digits, 10, 64)
	return id, err == nil && id > 0
}

// listSegments returns the segments in dir in id order, sealed, with their
// sizes.
func listSegments(dir string) ([]*segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing disk buffer %s: %w", dir, err)
	}
	var out []*segment
	for _, e := range entries {
		id, ok := parseSegmentName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading disk buffer segment %s: %w", filepath.Join(dir, e.Name()), err)
		}
		out = append(out, &segment{id: id, path: filepath.Join(dir, e.Name()), size: info.Size(), durable: info.Size(), sealed: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// createSegment creates segment id in dir with its header written (not yet
// fsynced; the writer syncs the file and the directory before anything in
// it is acknowledged).
func createSegment(dir string, id uint64) (*segment, error) {
	path := filepath.Join(dir, segmentName(id))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("creating disk buffer segment: %w", err)
	}
	if _, err := f.Write([]byte(segmentHeader)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("writing disk buffer segment %s: %w", path, err)
	}
	return &segment{id: id, path: path, size: segmentHeaderLen, w: f}, nil
}

// syncDir fsyncs a directory so that file creations in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
