// Package glob discovers the files that match glob patterns: the discovery
// half of the file source (internal/follow follows them).
//
// Every scan expands the include patterns (doublestar syntax: *, ?, [a-z],
// {a,b}, and ** for any number of directories), drops the paths an
// exclude pattern matches (Excluded lists them with the pattern, for the
// status page), and stats what is left. Each regular file is
// one group with one target, keyed by its identity "<device>:<inode>" (a
// file is followed wherever a rename within the patterns takes it, and
// its saved position is found by identity); hard links and symlinks to a
// file found under several paths are followed once, under the first path
// in sorted order. Scans run every scan_interval and, with fsnotify, as
// soon as an entry changes in a directory the patterns can match.
//
// Sends, after the full set of the first scan: a new file (a new group), a
// file found under another path (its group again, with the new name and
// metadata), a file no longer found (a Gone group: renamed out of the
// patterns or deleted; the follower reads it to its end). Paths that
// cannot be read are logged once (until the error changes) and counted in
// errors_total{stage="open"}; FIFOs, sockets and devices are skipped.
package glob

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/fswatch"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/tail"
)

// minEventScanGap rate-limits the scans that fsnotify events ask for.
const minEventScanGap = 50 * time.Millisecond

// Options configure a Discoverer.
type Options struct {
	// Include are the patterns of the files to follow (absolute paths);
	// Exclude patterns are matched against the full path of every included
	// file.
	Include, Exclude []string
	// ScanInterval is the period of the full scan.
	ScanInterval time.Duration
	// UseFsnotify scans at once when an entry changes in a directory the
	// patterns can match.
	UseFsnotify bool
	// NewWatcher starts fsnotify (nil: fswatch.New).
	NewWatcher fswatch.Starter
	// Meta builds the metadata of the events of the file at a path; it is
	// called again only when the file's path changes.
	Meta func(path string) *event.Meta
	// Logger and Metrics are the source's.
	Logger  *slog.Logger
	Metrics *metrics.Component
}

// Excluded is a path an include pattern matches and an exclude pattern
// leaves out.
type Excluded struct {
	Path string `json:"path"`
	// Rule names the exclude pattern: `exclude "/var/log/app/*.gz"`.
	Rule string `json:"rule"`
}

// Discoverer reports the files matching glob patterns (see the package
// documentation). It implements discovery.Discoverer.
type Discoverer struct {
	o     Options
	match *matcher
	// excluded is what the last scan left out, for Excluded.
	excluded atomic.Pointer[[]Excluded]

	// Run state.
	known   map[string]*file  // by key
	failing map[string]string // path -> error last logged for it
	skipped map[string]bool   // non-regular paths already seen
	watcher *fswatch.Watcher
}

// file is what the discoverer reported of one file.
type file struct {
	path string
	meta *event.Meta
}

// New returns a discoverer; the patterns must have been validated.
func New(o Options) *Discoverer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ScanInterval <= 0 {
		o.ScanInterval = time.Second
	}
	return &Discoverer{o: o, match: newMatcher(o.Include, o.Exclude)}
}

// Excluded returns the paths the last scan found excluded, sorted, with
// the exclude pattern that leaves each out; safe from any goroutine.
func (d *Discoverer) Excluded() []Excluded {
	if p := d.excluded.Load(); p != nil {
		return append([]Excluded(nil), (*p)...)
	}
	return nil
}

// Key is the key of the file with the given identity.
func Key(id tail.FileID) string {
	return strconv.FormatUint(id.Dev, 10) + ":" + strconv.FormatUint(id.Ino, 10)
}

// Run scans until ctx ends and sends the changes on up; see
// discovery.Discoverer.
func (d *Discoverer) Run(ctx context.Context, up chan<- []discovery.Group) error {
	d.known = map[string]*file{}
	d.failing = map[string]string{}
	d.skipped = map[string]bool{}
	var wake <-chan struct{}
	var errs prometheus.Counter
	if d.o.Metrics != nil {
		errs = d.o.Metrics.Errors("watch")
	}
	if w := d.o.NewWatcher.StartOrWarn(d.o.UseFsnotify, d.o.Logger, errs, "new files are found by scans only"); w != nil {
		d.watcher, wake = w, w.Wake()
		defer func() {
			w.Close()
			d.watcher = nil
		}()
	}
	full := true
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastScan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-wake:
			if !d.watcher.Take().Rescan() {
				continue
			}
			if gap := minEventScanGap - time.Since(lastScan); gap > 0 {
				timer.Reset(gap)
				continue
			}
		}
		lastScan = time.Now()
		gs := d.scan()
		if len(gs) > 0 || full {
			if gs == nil {
				gs = []discovery.Group{}
			}
			select {
			case up <- gs:
			case <-ctx.Done():
				return nil
			}
			full = false
		}
		timer.Reset(d.o.ScanInterval)
	}
}

// candidate is a regular file found by a scan: its paths (more than one
// for hard links, or a symlink and its target) and its identity.
type candidate struct {
	id    tail.FileID
	paths []string
}

// scan expands the patterns and returns the groups that changed since
// the last scan.
func (d *Discoverer) scan() []discovery.Group {
	paths, excluded := d.match.glob()
	d.excluded.Store(&excluded)
	present := make(map[string]struct{}, len(paths))
	var cands []*candidate
	byID := map[tail.FileID]*candidate{}
	for _, p := range paths {
		present[p] = struct{}{}
		fi, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if _, lerr := os.Lstat(p); errors.Is(lerr, fs.ErrNotExist) {
					continue // removed since the glob
				}
			}
			d.failed(p, err)
			continue
		}
		if !fi.Mode().IsRegular() {
			d.notRegular(p, fi)
			continue
		}
		id, ok := tail.IDOf(fi)
		if !ok {
			d.failed(p, errors.New("no inode number on this platform"))
			continue
		}
		if msg, ok := d.failing[p]; ok {
			delete(d.failing, p)
			d.o.Logger.Debug("file can be read now", "file", p, "previous_error", msg)
		}
		if c := byID[id]; c != nil {
			c.paths = append(c.paths, p)
			continue
		}
		c := &candidate{id: id, paths: []string{p}}
		byID[id] = c
		cands = append(cands, c)
	}

	var out []discovery.Group
	seen := make(map[string]bool, len(cands))
	for _, c := range cands {
		key := Key(c.id)
		seen[key] = true
		k := d.known[key]
		if k != nil && contains(c.paths, k.path) {
			continue // unchanged
		}
		p := c.paths[0]
		if k == nil || k.path != p {
			k = &file{path: p, meta: d.o.Meta(p)}
			d.known[key] = k
		}
		out = append(out, discovery.Group{Key: key, Targets: []discovery.Target{{
			Key: key, Dir: filepath.Dir(p), Name: filepath.Base(p), Scheme: discovery.Logrotate,
			Meta: k.meta, Attrs: []slog.Attr{slog.String("file", p)}, Dev: c.id.Dev, Ino: c.id.Ino,
		}}})
	}
	for key := range d.known {
		if !seen[key] {
			delete(d.known, key)
			out = append(out, discovery.Group{Key: key, Gone: true})
		}
	}
	for p := range d.failing {
		if _, ok := present[p]; !ok {
			delete(d.failing, p)
		}
	}
	for p := range d.skipped {
		if _, ok := present[p]; !ok {
			delete(d.skipped, p)
		}
	}
	if d.watcher != nil {
		d.watcher.Sync(d.match.watchDirs())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func contains(ps []string, p string) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

// failed logs and counts a path that cannot be read, once per path until
// the error changes or it can be read.
func (d *Discoverer) failed(p string, err error) {
	msg := err.Error()
	if d.failing[p] == msg {
		return
	}
	d.failing[p] = msg
	if d.o.Metrics != nil {
		d.o.Metrics.Errors("open").Inc()
	}
	d.o.Logger.Error("cannot open file; retrying at every scan", "file", p, "error", err)
}

// notRegular skips a path that is not a regular file (a FIFO, a socket, a
// device), logged once at debug level.
func (d *Discoverer) notRegular(p string, fi fs.FileInfo) {
	if d.skipped[p] {
		return
	}
	d.skipped[p] = true
	if fi.Mode()&fs.ModeNamedPipe == 0 && !fi.IsDir() {
		d.o.Logger.Debug("skipping path that is not a regular file", "file", p, "type", fi.Mode().Type().String())
	}
}
