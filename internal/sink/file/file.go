// Package file is the `sink "file"` component: it appends events, one per
// line, as JSON objects or bare messages, to files whose paths are
// templates of event fields. Files are kept open per rendered path and
// closed after idle_timeout without writes (or to stay within
// max_open_files); missing parent directories are created; with a rotate
// block, files are rotated by size. Events are acknowledged after the write
// returned, and with fsync = true only after the files were flushed to
// stable storage.
//
// Failures follow drover's delivery policy (docs/delivery.md): a write
// that fails (disk full, permission denied, I/O error) is retried until it
// succeeds; an event whose path cannot be made from its fields (a field is
// missing, the path leaves the template's directory or is not a valid
// file name) is rejected and handed to the dead-letter output. The file
// sink is also the usual destination of other sinks' dead letters.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/deadletter"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/retry"
	"github.com/drover-dev/drover/internal/template"
)

// Type is the component type name.
const Type = "file"

func init() { deadletter.RegisterSink(Type, NewConfig, New) }

// The sink's fixed delivery settings (driver.LocalBatchConfig and
// LocalRequestConfig).
var (
	batchConfig   = driver.LocalBatchConfig
	requestConfig = driver.LocalRequestConfig
)

// handle is an open file; *os.File in production.
type handle interface {
	io.Writer
	Sync() error
	Close() error
	Truncate(size int64) error
	Seek(offset int64, whence int) (int64, error)
	Stat() (os.FileInfo, error)
}

func osOpen(path string, perm os.FileMode) (handle, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, perm)
}

// openFile is a file the sink holds open.
type openFile struct {
	h    handle
	path string // cleaned
	// keys are the rendered paths that led to this file (before cleaning:
	// "a//b" and "a/b" are one file).
	keys    []string
	lastUse time.Time
	// pos is the end of the file, where the next write lands; start is
	// pos before this Send's first write to the file, or -1.
	pos, start int64
}

// Sink writes events to files. It implements component.Sink.
type Sink struct {
	cfg       *Config
	tmpl      *template.Template
	base      string // rendered paths must stay below base; "" when unrestricted
	fileMode  os.FileMode
	dirMode   os.FileMode
	open      func(path string, perm os.FileMode) (handle, error)
	log       *slog.Logger
	filesOpen prometheus.Gauge
	d         *driver.Driver

	mu    sync.Mutex
	files map[string]*openFile // by cleaned path
	byKey map[string]*openFile // by rendered path
	// Scratch of Send, used under mu.
	paths    []byte
	pathEnds []int
	runs     []run
	touched  []*openFile
}

// run is a range of consecutive events of a request written to one file.
type run struct {
	f        *openFile
	from, to int
}

// New builds the sink from a validated configuration.
func New(cctx component.Context, cfg *Config) (*Sink, error) {
	return newSink(cctx, cfg, requestConfig, osOpen)
}

func newSink(cctx component.Context, cfg *Config, req driver.RequestConfig, open func(string, os.FileMode) (handle, error)) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tmpl, _ := template.Parse(cfg.Path)
	enc, _ := codec.ParseEncoding(cfg.Encoding)
	fileMode, _ := parseMode(cfg.FileMode)
	dirMode, _ := parseMode(cfg.DirMode)
	log := cctx.Log()
	cctx.Logger = log
	s := &Sink{
		cfg:      cfg,
		tmpl:     tmpl,
		base:     baseDir(tmpl),
		fileMode: os.FileMode(fileMode),
		dirMode:  os.FileMode(dirMode),
		open:     open,
		log:      log,
		files:    map[string]*openFile{},
		byKey:    map[string]*openFile{},
	}
	if cctx.Metrics != nil {
		s.filesOpen = cctx.Metrics.FilesOpen
	}
	d, err := driver.New(driver.Options{
		Batch:       batchConfig,
		Request:     req,
		Encoder:     codec.Lines{Encoding: enc},
		Sender:      s,
		Destination: cfg.Path,
		Component:   cctx,
	})
	if err != nil {
		return nil, err
	}
	s.d = d
	return s, nil
}

// baseDir is the directory that every rendered path must stay below: the
// directory part of the template's text before its first field. A
// template that starts with a field, or has no field at all, is not
// restricted.
func baseDir(t *template.Template) string {
	prefix := t.Prefix()
	if t.IsConstant() || prefix == "" {
		return ""
	}
	i := strings.LastIndexByte(prefix, filepath.Separator)
	if i < 0 {
		return "."
	}
	return filepath.Clean(prefix[:i+1])
}

// Run delivers the batches of in (see component.Sink and driver.Run),
// closing idle files meanwhile and every file when it returns.
func (s *Sink) Run(ctx context.Context, in <-chan *event.Batch) error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.closeIdle(stop) })
	err := s.d.Run(ctx, in)
	close(stop)
	wg.Wait()
	s.mu.Lock()
	for _, f := range s.files {
		s.closeFile(f)
	}
	s.mu.Unlock()
	return err
}

// closeIdle closes, every checkInterval at most, the files idle for
// idle_timeout and those whose path no longer leads to them (moved away
// or deleted by a log rotation tool), so that the next event for the path
// creates a new file.
func (s *Sink) closeIdle(stop <-chan struct{}) {
	tick := time.NewTicker(min(s.cfg.IdleTimeout/2, checkInterval))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			s.mu.Lock()
			for _, f := range s.files {
				if now.Sub(f.lastUse) >= s.cfg.IdleTimeout || s.moved(f) {
					s.closeFile(f)
				}
			}
			s.mu.Unlock()
		}
	}
}

// checkInterval is how often open files are checked at most.
var checkInterval = time.Second

// moved reports whether f's path leads to another file or to none.
func (s *Sink) moved(f *openFile) bool {
	onPath, err := os.Stat(f.path)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	open, err := f.h.Stat()
	return err == nil && !os.SameFile(onPath, open)
}

// closeFile closes f and forgets it. Called under mu.
func (s *Sink) closeFile(f *openFile) {
	if f.h == nil {
		return
	}
	if err := f.h.Close(); err != nil {
		s.log.Warn("closing file", "path", f.path, "error", err)
	}
	f.h = nil
	if s.files[f.path] == f {
		delete(s.files, f.path)
	}
	for _, k := range f.keys {
		if s.byKey[k] == f {
			delete(s.byKey, k)
		}
	}
	if s.filesOpen != nil {
		s.filesOpen.Dec()
	}
}

// errPathEscapes refuses a rendered path outside the template's directory.
var errPathEscapes = errors.New("path leaves the directory of the path template")

// file returns the open file for a rendered path, opening (and creating)
// it when needed. Called under mu.
func (s *Sink) file(rendered []byte, now time.Time) (*openFile, error) {
	if f, ok := s.byKey[string(rendered)]; ok {
		return f, nil
	}
	key := string(rendered)
	path := filepath.Clean(key)
	if s.base != "" {
		rel, err := filepath.Rel(s.base, path)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("%q: %w %q", key, errPathEscapes, s.base)
		}
	}
	f, ok := s.files[path]
	if !ok {
		if err := os.MkdirAll(filepath.Dir(path), s.dirMode); err != nil {
			return nil, fmt.Errorf("creating the directory of %s: %w", path, err)
		}
		h, err := s.open(path, s.fileMode)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		pos, err := h.Seek(0, io.SeekEnd)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("finding the end of %s: %w", path, err)
		}
		f = &openFile{h: h, path: path, lastUse: now, pos: pos, start: -1}
		s.files[path] = f
		if s.filesOpen != nil {
			s.filesOpen.Inc()
		}
	}
	f.keys = append(f.keys, key)
	s.byKey[key] = f
	return f, nil
}

// evict closes least recently used files not written by the current Send
// until at most max_open_files are open. Called under mu.
func (s *Sink) evict() {
	for len(s.files) > s.cfg.MaxOpenFiles {
		var lru *openFile
		for _, f := range s.files {
			if f.start < 0 && (lru == nil || f.lastUse.Before(lru.lastUse)) {
				lru = f
			}
		}
		if lru == nil {
			return
		}
		s.closeFile(lru)
	}
}

// Discard reasons of the events the sink refuses.
const (
	// ReasonMissingField: the path template refers to a field the event
	// does not have (or has empty).
	ReasonMissingField = "missing_field"
	// ReasonInvalidPath: the rendered path leaves the template's directory
	// or is not a valid file name.
	ReasonInvalidPath = "invalid_path"
)

// classify applies the delivery policy to a file error. An error of the
// path is the event's when the path comes from its fields (a template with
// fields) and is refused; otherwise it is the configuration's or the
// system's, and retried: permissions (reason "forbidden"), a full disk
// ("no_space"), I/O errors.
func (s *Sink) classify(err error) (batch.Outcome, error) {
	if errors.Is(err, errPathEscapes) {
		return batch.Refused, retry.Reject(ReasonInvalidPath, err)
	}
	for _, e := range []error{syscall.ENOTDIR, syscall.EISDIR, syscall.ENAMETOOLONG, syscall.EINVAL, syscall.ELOOP} {
		if errors.Is(err, e) {
			if s.tmpl.IsConstant() {
				return batch.Retry, retry.Transient(retry.ReasonMisconfigure, err)
			}
			return batch.Refused, retry.Reject(ReasonInvalidPath, err)
		}
	}
	for _, e := range []error{syscall.EACCES, syscall.EPERM, syscall.EROFS} {
		if errors.Is(err, e) {
			return batch.Retry, retry.Transient(retry.ReasonForbidden, err)
		}
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return batch.Retry, retry.Transient(ReasonNoSpace, err)
	}
	return batch.Retry, err
}

// ReasonNoSpace is the health reason of writes that fail on a full disk or
// quota.
const ReasonNoSpace = "no_space"

// verdicts collects the outcomes of a Send that did not fully succeed.
type verdicts struct {
	out     []batch.Outcome // nil while every event succeeded
	reasons []string
	errs    []error
}

// set gives the events from to to-1 of a request of n events the outcome
// of err (classified by classify).
func (v *verdicts) set(n, from, to int, o batch.Outcome, err error) {
	if v.out == nil {
		v.out = make([]batch.Outcome, n)
		v.reasons = make([]string, n)
	}
	_, reason := retry.Classify(err)
	for i := from; i < to; i++ {
		v.out[i] = o
		if o == batch.Refused {
			v.reasons[i] = reason
		}
	}
	if !slices.ContainsFunc(v.errs, func(e error) bool { return e.Error() == err.Error() }) {
		v.errs = append(v.errs, err)
	}
}

// result turns the verdicts into Send's error for the driver.
func (v *verdicts) result() error {
	if v.out == nil {
		return nil
	}
	return retry.Result(v.out, v.reasons, v.errs)
}

// Send appends the request's lines to their files; it implements
// driver.Sender. Consecutive events for the same file are written with one
// write call (with rotation, a run is cut where a file is full). An event
// whose path cannot be rendered (a field is missing or empty) or leaves the
// template's directory is refused. A write that fails is rolled back (the
// file is truncated to where it ended) so that the retry does not leave a
// partial line; the file is closed and opened again on the next attempt.
func (s *Sink) Send(_ context.Context, req *batch.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, now := req.Len(), time.Now()
	var v verdicts

	// Render every event's path into one buffer.
	s.paths, s.pathEnds = s.paths[:0], s.pathEnds[:0]
	for i, e := range req.Events() {
		before := len(s.paths)
		var ok bool
		if s.paths, ok = s.tmpl.Render(s.paths, e); !ok {
			s.paths = s.paths[:before]
			v.set(n, i, i+1, batch.Refused, retry.Reject(ReasonMissingField,
				fmt.Errorf("path %q: field %q is missing or empty", s.tmpl, s.tmpl.FirstMissing(e))))
		}
		s.pathEnds = append(s.pathEnds, len(s.paths))
	}
	path := func(i int) []byte {
		start := 0
		if i > 0 {
			start = s.pathEnds[i-1]
		}
		return s.paths[start:s.pathEnds[i]]
	}
	refused := func(i int) bool { return v.out != nil && v.out[i] == batch.Refused }

	// Write runs of consecutive events with the same path. After a failure
	// on a path, its later events fail too, so that a retry keeps their
	// order.
	s.runs, s.touched = s.runs[:0], s.touched[:0]
	var failed []failedPath
	for from := 0; from < n; {
		if refused(from) {
			from++
			continue
		}
		to := from + 1
		for to < n && !refused(to) && string(path(to)) == string(path(from)) {
			to++
		}
		if fp := findFailed(failed, path(from)); fp != nil {
			v.set(n, from, to, fp.outcome, fp.err)
			from = to
			continue
		}
		f, err := s.file(path(from), now)
		if err == nil {
			var rf *openFile
			if rf, to, err = s.rotateFor(f, req, from, to, now); err == nil {
				f = rf
			}
		}
		if err != nil {
			o, err := s.classify(err)
			failed = append(failed, failedPath{string(path(from)), o, err})
			v.set(n, from, to, o, err)
			if f != nil {
				s.fail(f, &v, n, o, err)
			}
			from = to
			continue
		}
		if f.start < 0 {
			f.start = f.pos
			s.touched = append(s.touched, f)
		}
		chunk := req.EncodedRange(from, to)
		if _, err := f.h.Write(chunk); err != nil {
			o, err := s.classify(fmt.Errorf("writing to %s: %w", f.path, err))
			failed = append(failed, failedPath{string(path(from)), o, err})
			v.set(n, from, to, o, err)
			s.fail(f, &v, n, o, err)
			from = to
			continue
		}
		f.pos += int64(len(chunk))
		f.lastUse = now
		s.runs = append(s.runs, run{f: f, from: from, to: to})
		from = to
	}

	if s.cfg.Fsync {
		for _, f := range s.touched {
			if f.h == nil {
				continue
			}
			if err := f.h.Sync(); err != nil {
				o, err := s.classify(fmt.Errorf("syncing %s: %w", f.path, err))
				s.fail(f, &v, n, o, err)
			}
		}
	}
	for _, f := range s.touched {
		f.start = -1
	}
	clear(s.runs)
	clear(s.touched)
	s.evict()
	return v.result()
}

// rotateFor makes room in f for the run of events from to to-1 of req when
// files are rotated: it returns the end of the part of the run that fits
// into f, or rotates f and returns the new file with the part that fits
// into it. A file takes at least one event, however large. Called under mu.
func (s *Sink) rotateFor(f *openFile, req *batch.Request, from, to int, now time.Time) (*openFile, int, error) {
	if s.cfg.Rotate == nil {
		return f, to, nil
	}
	maxBytes, _ := s.cfg.Rotate.limits()
	fits := func(f *openFile) int {
		end, size := from, f.pos
		for end < to {
			size += int64(len(req.Encoded(end)))
			if size > maxBytes {
				break
			}
			end++
		}
		return end
	}
	if end := fits(f); end > from {
		return f, end, nil
	}
	if f.pos > 0 {
		var err error
		if f, err = s.rotate(f, now); err != nil {
			return nil, to, err
		}
	}
	return f, max(fits(f), from+1), nil
}

// rotate closes f, renames it to "<path>.1" after moving the older
// rotated files one number up (deleting the one beyond rotate.max_files),
// and opens a new file on the path. Called under mu.
func (s *Sink) rotate(f *openFile, now time.Time) (*openFile, error) {
	if s.cfg.Fsync && f.start >= 0 {
		// The events this Send wrote are acknowledged with the file's
		// sync, which the rotated file no longer gets.
		if err := f.h.Sync(); err != nil {
			return nil, fmt.Errorf("syncing %s: %w", f.path, err)
		}
	}
	_, maxFiles := s.cfg.Rotate.limits()
	key, path := f.keys[0], f.path
	s.closeFile(f)
	numbered := func(i int) string {
		if i == 0 {
			return path
		}
		return path + "." + strconv.Itoa(i)
	}
	if err := os.Remove(numbered(maxFiles)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("rotating %s: %w", path, err)
	}
	for i := maxFiles; i >= 1; i-- {
		if err := os.Rename(numbered(i-1), numbered(i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("rotating %s: %w", path, err)
		}
	}
	if s.cfg.Fsync {
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("rotating %s: %w", path, err)
		}
	}
	s.log.Debug("rotated file", "path", path, "rotated_files", maxFiles)
	return s.file([]byte(key), now)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// fail undoes this Send's writes to f after a failed write or sync: the
// file is truncated to where it ended before them (so that the retry does
// not follow a partial line), closed (the next attempt opens it afresh),
// and the events already written to it get outcome o too. Called under mu.
func (s *Sink) fail(f *openFile, v *verdicts, n int, o batch.Outcome, err error) {
	if f.h == nil {
		return
	}
	if terr := f.h.Truncate(f.start); terr != nil {
		s.log.Warn("cannot remove a failed write from the file; it may hold a partial line", "path", f.path, "error", terr)
	}
	for _, r := range s.runs {
		if r.f == f {
			v.set(n, r.from, r.to, o, err)
		}
	}
	s.closeFile(f)
}

// failedPath is a path that failed during a Send.
type failedPath struct {
	path    string
	outcome batch.Outcome
	err     error
}

func findFailed(failed []failedPath, path []byte) *failedPath {
	for i := range failed {
		if failed[i].path == string(path) {
			return &failed[i]
		}
	}
	return nil
}
