package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// streamInfo is one task stream and the metadata its lines must carry.
type streamInfo struct {
	index     int // the <stream> of its lines' ids
	allocID   string
	namespace string
	job       string
	task      string
	stream    string // "stdout" or "stderr"
	dir       string // the allocation's log directory
}

// key names the stream as drover's metadata does.
func (s *streamInfo) key() string { return s.allocID + "/" + s.task + "/" + s.stream }

// rotation is logmon's logs block of a task: max_file_size and max_files.
type rotation struct {
	maxSize  int64
	maxFiles int
}

// fileRec is what the writer knows of one file <task>.<stream>.<N>.
type fileRec struct {
	firstSeq, lastSeq int // lines with at least one byte in the file; firstSeq -1: none yet
	// contSeq is the line whose head is in file N-1 and whose rest starts
	// this file, at byte contOff of the line; -1 when the file starts with
	// a new line.
	contSeq, contOff int
	deleted          time.Time // when it was deleted (after the unlink returned); zero while it exists
	gc               bool      // deleted with the whole allocation directory
}

// chain writes one task stream the way Nomad's logmon does
// (client/logmon/logging/rotator.go): files <task>.<stream>.N, N from 0;
// a write that does not fit into max_file_size is split, even inside a
// line, and continues in file N+1; after creating N+1 the files beyond
// max_files are deleted, oldest first. It records where every line went
// and when every file was deleted, for the checker. Safe for concurrent
// use.
type chain struct {
	info *streamInfo
	seed uint64
	rot  rotation

	mu      sync.Mutex
	f       *os.File
	size    int64
	files   []fileRec // index N
	oldest  int       // lowest N that may still exist
	started int       // lines whose first byte was written: seq < started
	done    int       // lines written completely: seq < done
	cur     int       // the line the next byte belongs to
	curOff  int       // bytes of line cur written so far
	lens    []int     // lengths of lines cur, cur+1, ... queued by write
	err     error     // first write error
	closed  bool
}

// newChain creates file 0 of the stream, as logmon does when the task
// starts.
func newChain(info *streamInfo, seed uint64, rot rotation) (*chain, error) {
	c := &chain{info: info, seed: seed, rot: rot}
	if err := c.create(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *chain) path(n int) string {
	return filepath.Join(c.info.dir, c.info.task+"."+c.info.stream+"."+strconv.Itoa(n))
}

// create starts file len(files) and purges the files beyond max_files.
func (c *chain) create() error {
	n := len(c.files)
	f, err := os.OpenFile(c.path(n), os.O_CREATE|os.O_WRONLY|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("creating %s: %w", c.path(n), err)
	}
	if c.f != nil {
		_ = c.f.Close()
	}
	c.f, c.size = f, 0
	rec := fileRec{firstSeq: -1, lastSeq: -1, contSeq: -1}
	if c.curOff > 0 {
		rec.contSeq, rec.contOff = c.cur, c.curOff
	}
	c.files = append(c.files, rec)
	for c.oldest <= n-c.rot.maxFiles {
		if err := os.Remove(c.path(c.oldest)); err != nil {
			return fmt.Errorf("purging %s: %w", c.path(c.oldest), err)
		}
		c.files[c.oldest].deleted = time.Now()
		c.oldest++
	}
	return nil
}

// writeLines appends count lines, cut into chunks at the given fractions
// of their bytes (logmon flushes its buffer at any byte), pausing between
// chunks. The chunks are written in order; a chunk that does not fit the
// current file is split at max_file_size.
func (c *chain) writeLines(count int, cutAt []float64, pause func()) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	first := c.done + len(c.lens)
	var buf []byte
	for i := 0; i < count; i++ {
		before := len(buf)
		buf = appendLine(buf, c.seed, c.info.index, first+i)
		c.lens = append(c.lens, len(buf)-before)
	}
	c.mu.Unlock()
	cuts := make([]int, len(cutAt))
	for i, f := range cutAt {
		cuts[i] = int(f * float64(len(buf)))
	}
	sort.Ints(cuts)
	prev := 0
	for _, cut := range append(cuts, len(buf)) {
		if cut <= prev || cut > len(buf) {
			continue
		}
		if err := c.put(buf[prev:cut]); err != nil {
			return err
		}
		prev = cut
		if cut < len(buf) && pause != nil {
			pause()
		}
	}
	return nil
}

// put writes p, the next bytes of the queued lines, rotating at the size
// limit.
func (c *chain) put(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.closed {
		return c.err
	}
	for len(p) > 0 {
		if c.size >= c.rot.maxSize {
			if c.err = c.create(); c.err != nil {
				return c.err
			}
		}
		k := int(min(int64(len(p)), c.rot.maxSize-c.size))
		c.account(k)
		if _, err := c.f.Write(p[:k]); err != nil {
			c.err = fmt.Errorf("writing %s: %w", c.f.Name(), err)
			return c.err
		}
		c.size += int64(k)
		c.finish(k)
		p = p[k:]
	}
	return nil
}

// account records, before k bytes are written to the current file, which
// lines they touch: the checker must never see a line it has not been
// told about.
func (c *chain) account(k int) {
	rec := &c.files[len(c.files)-1]
	seq, off := c.cur, c.curOff
	for i := 0; k > 0; i++ {
		if rec.firstSeq < 0 {
			rec.firstSeq = seq
		}
		rec.lastSeq = seq
		c.started = max(c.started, seq+1)
		left := c.lens[i] - off
		if k < left {
			return
		}
		k -= left
		seq, off = seq+1, 0
	}
}

// finish moves past k bytes that were written.
func (c *chain) finish(k int) {
	for k > 0 {
		left := c.lens[0] - c.curOff
		if k < left {
			c.curOff += k
			return
		}
		k -= left
		c.lens = c.lens[1:]
		c.cur++
		c.curOff = 0
		c.done = c.cur
	}
}

// gc records that the allocation directory was deleted with every file
// in it; the chain writes nothing more.
func (c *chain) gc(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
	for n := c.oldest; n < len(c.files); n++ {
		c.files[n].deleted, c.files[n].gc = at, true
	}
	c.oldest = len(c.files)
}

// close stops writing: the file is closed, nothing more is written.
func (c *chain) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
}

func (c *chain) closeLocked() {
	if c.f != nil {
		_ = c.f.Close()
		c.f = nil
	}
	c.closed = true
}

// progress returns the lines started and the lines written completely.
func (c *chain) progress() (started, done int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started, c.done
}

// filesOf returns the numbers and records of the files holding a byte of
// line seq (one, or two for a line split across files).
func (c *chain) filesOf(seq int) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Only the last file can be empty (lastSeq -1): it sorts after all.
	i := sort.Search(len(c.files), func(i int) bool { return c.files[i].lastSeq >= seq || c.files[i].lastSeq < 0 })
	var out []int
	for ; i < len(c.files) && c.files[i].firstSeq >= 0 && c.files[i].firstSeq <= seq; i++ {
		out = append(out, i)
	}
	return out
}

// file returns the record of file n.
func (c *chain) file(n int) fileRec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files[n]
}

// fragments returns the files that start with the rest of a line.
func (c *chain) fragments() map[int]fileRec {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int]fileRec{}
	for n, f := range c.files {
		if f.contSeq >= 0 {
			out[n] = f
		}
	}
	return out
}

// err returns the first write error.
func (c *chain) writeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
