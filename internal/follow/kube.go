package follow

import (
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/tail"
)

// The Kubernetes scheme (discovery.Kubernetes): a container's directory
// holds <restart>.log, the file the runtime writes, the kubelet's rotated
// <restart>.log.<YYYYMMDD-hhmmss> and the compressed
// <restart>.log.<YYYYMMDD-hhmmss>.gz. Files are renamed by the rotation,
// so a name does not identify a file: the chain follows files by identity
// (device and inode). Each file gets a number in the chain the first time
// it is seen, in the scheme's order (restart, then rotation time, the
// live file last); a file seen again under another name (0.log renamed to
// 0.log.20261207-172011) keeps its number, a file with a new identity
// under a known name (the new 0.log, or the file a symlink of docker's
// json-file layout points to after docker rotated it) is the next one.
//
// A file of the chain is complete once a newer one exists and it is read
// to its end; the runtime writes whole CRI records, so no line continues
// across files. What the follower holds open is read to its end through
// its descriptor when the kubelet compresses (and so deletes) it.
// Compressed files are not decompressed: a file compressed before it was
// read to its end (possible only while drover was not running) is
// reported as lost.

// kubeFiles is what a Kubernetes chain knows of its files.
type kubeFiles struct {
	// seen: the identity of every file of the directory the chain looked
	// at, with the number it has in the chain (files before the chain's
	// start have numbers too, never opened) and its name when last seen.
	seen map[tail.FileID]seenFile
	// latest is the number of the newest file seen under each name.
	latest map[string]uint64
	// path and id of file n as it was listed, to open it.
	path map[uint64]string
	id   map[uint64]tail.FileID
	// symlinked: the files are symlinks out of the directory (docker's
	// json-file behind cri-dockerd), whose writes fsnotify on the
	// directory does not see.
	symlinked bool
	// restartsReported: the loss of the files of restarts removed before
	// the chain started was reported (a start that has to wait looks
	// again).
	restartsReported bool
}

type seenFile struct {
	n    uint64
	name string
}

// knownKube reports whether e is a file the chain has seen. An inode is
// reused once its file is deleted and closed, so a closed file's identity
// names it only under the name it had, or under the rotated name of its
// live name (the kubelet's rename); a file that the chain still holds
// open cannot share its inode with another.
func (f *Follower) knownKube(c *chain, e kubeEntry) bool {
	k := c.k
	s, ok := k.seen[e.id]
	if !ok {
		return false
	}
	open := false
	for _, cf := range c.files {
		if cf.n == s.n && k.id[cf.n] == e.id {
			open = true
			break
		}
	}
	was, _ := parseKubeName(s.name)
	switch {
	case open,
		e.name == s.name && k.latest[e.name] == s.n,
		was.rotated == "" && e.rotated != "" && was.restart == e.restart:
	default:
		return false // another file under a reused inode
	}
	if e.name != s.name {
		k.seen[e.id] = seenFile{n: s.n, name: e.name}
		k.latest[e.name] = max(k.latest[e.name], s.n)
		if k.id[s.n] == e.id {
			f.renamed(c, s.n, e.name) // not a file done before the chain's start
		}
	}
	return true
}

// mark records that e is file n of the chain.
func (k *kubeFiles) mark(e kubeEntry, n uint64) {
	k.seen[e.id] = seenFile{n: n, name: e.name}
	if l, ok := k.latest[e.name]; !ok || n >= l {
		k.latest[e.name] = n
	}
}

// kubeEntry is one file of a container's log directory.
type kubeEntry struct {
	name    string
	restart uint64
	// rotated is the rotation time of a rotated file ("" for the live
	// file, which sorts after the rotated ones of its restart).
	rotated string
	gz      bool
	id      tail.FileID
	link    bool // a symlink
	// path is where a file out of the directory is (docker's rotated
	// json-file beside the target of a symlink); "" for the directory's.
	path string
}

// at is the path of the file e of directory dir.
func (e kubeEntry) at(dir string) string {
	if e.path != "" {
		return e.path
	}
	return filepath.Join(dir, e.name)
}

// kube reports whether the chain follows the kubelet's files.
func (c *chain) kube() bool { return c.t.Scheme == discovery.Kubernetes }

// parseKubeName parses "<restart>.log", "<restart>.log.<YYYYMMDD-hhmmss>"
// and the latter with ".gz".
func parseKubeName(name string) (e kubeEntry, ok bool) {
	digits, rest, found := strings.Cut(name, ".log")
	if !found || digits == "" || len(digits) > 9 {
		return e, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || len(digits) > 1 && digits[0] == '0' {
		return e, false
	}
	e.name, e.restart = name, n
	if rest == "" {
		return e, true
	}
	if rest[0] != '.' {
		return e, false
	}
	rest = rest[1:]
	if r, isGz := strings.CutSuffix(rest, ".gz"); isGz {
		e.gz, rest = true, r
	}
	if _, err := time.Parse("20060102-150405", rest); err != nil {
		return e, false
	}
	e.rotated = rest
	return e, true
}

// compareKube orders files as the scheme does: restart, then rotated ones
// by time, the live file last.
func compareKube(a, b kubeEntry) int {
	if c := cmp.Compare(a.restart, b.restart); c != 0 {
		return c
	}
	switch {
	case a.rotated == "" && b.rotated != "":
		return 1
	case a.rotated != "" && b.rotated == "":
		return -1
	}
	return cmp.Or(strings.Compare(a.rotated, b.rotated), cmp.Compare(boolInt(a.gz), boolInt(b.gz)))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// kubeListed, when set (by tests), is called by listKube between the
// listing of a directory and the stat of its files.
var kubeListed func(dir string)

// kubeListTries bounds the listings of one look at a directory whose
// names keep changing while its files are looked at.
const kubeListTries = 4

// listKube lists the files of a Kubernetes target's directory in the
// scheme's order, with their identities (symlinks followed: docker's
// json-file behind cri-dockerd). Compressed files have no identity.
//
// A name is stat'ed after the listing: a rotation in between (0.log
// renamed, a new 0.log created) would pair the name with the new file and
// leave the renamed one out of the listing, and a chain that took the new
// file for its first would count the renamed one, seen at the next look,
// as newer, or not at all after a restart (the files before a saved
// position are done). The directory is listed again after the stats, and
// the look counts only when the names did not change meanwhile (a
// rotation adds a name).
func (f *Follower) listKube(dir string) []kubeEntry {
	entries, err := os.ReadDir(dir)
	for try := 1; ; try++ {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				f.openFailed(dir, err)
			}
			return nil
		}
		delete(f.failing, dir)
		if kubeListed != nil {
			kubeListed(dir)
		}
		out := statKube(dir, entries)
		again, aerr := os.ReadDir(dir)
		if aerr == nil && sameKubeNames(entries, again) || try == kubeListTries {
			return out
		}
		entries, err = again, aerr
	}
}

// statKube returns the files of the scheme among entries, in order, with
// their identities.
func statKube(dir string, entries []os.DirEntry) []kubeEntry {
	out := make([]kubeEntry, 0, len(entries))
	for _, de := range entries {
		e, ok := parseKubeName(de.Name())
		if !ok {
			continue
		}
		e.link = de.Type()&fs.ModeSymlink != 0
		if !e.gz {
			fi, err := os.Stat(filepath.Join(dir, e.name))
			if err != nil || !fi.Mode().IsRegular() {
				continue // renamed or deleted since the listing: the next look sees it
			}
			if e.id, ok = tail.IDOf(fi); !ok {
				continue
			}
		}
		out = append(out, e)
	}
	slices.SortFunc(out, compareKube)
	return out
}

// sameKubeNames reports whether two listings of a directory (sorted by
// name, as os.ReadDir returns them) hold the same names of the scheme.
func sameKubeNames(a, b []os.DirEntry) bool {
	i, j := 0, 0
	for {
		for i < len(a) && !isKubeName(a[i].Name()) {
			i++
		}
		for j < len(b) && !isKubeName(b[j].Name()) {
			j++
		}
		if i == len(a) || j == len(b) {
			return i == len(a) && j == len(b)
		}
		if a[i].Name() != b[j].Name() {
			return false
		}
		i, j = i+1, j+1
	}
}

func isKubeName(name string) bool {
	_, ok := parseKubeName(name)
	return ok
}

// attachKube looks at a Kubernetes target's files and opens the ones the
// chain has not seen, in order. The first time, it decides where the
// chain starts (startKube).
func (f *Follower) attachKube(c *chain, now time.Time) {
	if c.closed {
		return
	}
	if c.k == nil {
		c.k = &kubeFiles{seen: map[tail.FileID]seenFile{}, latest: map[string]uint64{}, path: map[uint64]string{}, id: map[uint64]tail.FileID{}}
	}
	es := f.listKube(c.t.Dir)
	for _, e := range es {
		c.k.symlinked = c.k.symlinked || e.link
	}
	if !c.started {
		f.startKube(c, es, now)
	} else {
		var fresh []kubeEntry
		for _, e := range es {
			if !e.gz && !f.knownKube(c, e) {
				fresh = append(fresh, e)
			}
		}
		f.openKube(c, fresh, 0)
	}
	f.pruneKube(c, es)
	if c.nextN > 0 {
		c.pos.seeTip(c.nextN-1, -1)
	}
}

// openKube numbers the files es (in order, not seen yet) from c.nextN and
// opens them; the first at offset start (the others at their beginning).
// A file that cannot be opened now (renamed since it was listed, or no
// room) is left unseen: the next look opens it.
func (f *Follower) openKube(c *chain, es []kubeEntry, start int64) bool {
	for i, e := range es {
		n := c.nextN
		off := int64(0)
		if i == 0 {
			off = start
		}
		if e.gz {
			if !f.openGz(c, e, off) {
				return false
			}
			continue
		}
		prev, had := c.k.seen[e.id]
		c.k.path[n], c.k.id[n] = e.at(c.t.Dir), e.id
		c.k.mark(e, n)
		if !f.open(c, n, off, i == len(es)-1) {
			delete(c.k.seen, e.id)
			if had {
				c.k.seen[e.id] = prev
			}
			return false
		}
		f.nameLast(c, e.name)
	}
	return true
}

// openGz reads a compressed file of the chain (compressed = "read"): it
// is decompressed into a temporary file, which is opened as the chain's
// next file at offset off and unlinked at once (read through its
// descriptor, like a deleted file). A crash while it is read leaves a
// position whose file is gone: the next start finds the compressed file
// again by its head. A file that cannot be decompressed is reported lost.
func (f *Follower) openGz(c *chain, e kubeEntry, off int64) bool {
	gzPath := filepath.Join(c.t.Dir, e.name)
	// Beside the checkpoint: the data directory is writable where the
	// root filesystem is not (the DaemonSet's).
	tmp, id, err := decompressToTemp(gzPath, f.gzTemp())
	if err != nil {
		f.m.Errors("read").Inc()
		f.lostKube(c, []kubeEntry{e}, "cannot decompress", "error", err)
		return true
	}
	defer os.Remove(tmp)
	n := c.nextN
	c.k.path[n], c.k.id[n] = tmp, id
	if !f.open(c, n, off, false) {
		return false
	}
	f.nameLast(c, e.name)
	f.mu.Lock()
	c.pos.path = strings.TrimSuffix(gzPath, ".gz")
	f.mu.Unlock()
	f.log.Info("reading a "+f.o.Words.File+" the kubelet compressed before drover read it to its end", c.with("file", gzPath, "offset", off)...)
	return true
}

// gzTemp is the pattern of the temporary files of decompressed files:
// hidden, beside the checkpoint, named after it (sources share the
// checkpoint directory).
func (f *Follower) gzTemp() string {
	return filepath.Join(filepath.Dir(f.o.Store.Path()), "."+filepath.Base(f.o.Store.Path())+".gz-*")
}

// removeStaleTemps removes the temporary files of decompressed files that
// a process killed while it decompressed one left behind (they are
// unlinked once opened); called at start, before anything is read.
func (f *Follower) removeStaleTemps() {
	stale, _ := filepath.Glob(f.gzTemp())
	for _, p := range stale {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			f.log.Warn("cannot remove a stale temporary file", "file", p, "error", err)
			continue
		}
		f.log.Info("removed the temporary file of a decompressed "+f.o.Words.File+" a previous process left behind", "file", p)
	}
}

// decompressToTemp decompresses path into a new temporary file named by
// pattern (os.CreateTemp's, with a directory) and returns its path and
// identity.
func decompressToTemp(path, pattern string) (string, tail.FileID, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", tail.FileID{}, err
	}
	defer src.Close()
	zr, err := gzip.NewReader(src)
	if err != nil {
		return "", tail.FileID{}, fmt.Errorf("decompressing %s: %w", path, err)
	}
	dir := filepath.Dir(pattern)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", tail.FileID{}, err
	}
	dst, err := os.CreateTemp(dir, filepath.Base(pattern))
	if err != nil {
		return "", tail.FileID{}, err
	}
	_, cerr := io.Copy(dst, zr)
	fi, serr := dst.Stat()
	if err := errors.Join(cerr, serr, dst.Close()); err != nil {
		os.Remove(dst.Name())
		return "", tail.FileID{}, fmt.Errorf("decompressing %s: %w", path, err)
	}
	id, _ := tail.IDOf(fi)
	return dst.Name(), id, nil
}

// startKube decides where a Kubernetes chain starts: in the file of its
// saved position (found by identity) when it is still there, files before
// it done; after the files before it when the saved file is gone; else at
// the beginning of its files, or at the end of the newest when read_from
// says so.
func (f *Follower) startKube(c *chain, es []kubeEntry, now time.Time) {
	var live []kubeEntry
	for _, e := range es {
		if !e.gz {
			live = append(live, e)
		}
	}
	saved := c.pos
	f.mu.Lock()
	n, fp, off, has := saved.current()
	f.mu.Unlock()
	if has {
		find := func() int {
			i := slices.IndexFunc(live, func(e kubeEntry) bool { return e.id == fp.FileID })
			if i >= 0 && !sameHead(live[i].at(c.t.Dir), fp) {
				i = -1 // another file under the inode of the saved one, deleted since
			}
			return i
		}
		i := find()
		if i < 0 {
			if rotated := dockerRotated(c.t.Dir, es); len(rotated) > 0 {
				// docker rotated the saved file beside the symlink's
				// target while drover was not running.
				es = append(slices.Clone(es), rotated...)
				slices.SortFunc(es, compareKube)
				live = slices.DeleteFunc(slices.Clone(es), func(e kubeEntry) bool { return e.gz })
				i = find()
			}
		}
		f.reportLaterGone(c, es, saved)
		if i < 0 {
			f.startKubeAfterLost(c, es, n, now)
			return
		}
		for _, e := range live[:i] {
			c.k.mark(e, n) // done before the position
		}
		f.mu.Lock()
		c.pos = &position{lastSeen: now, path: saved.path}
		f.mu.Unlock()
		c.started, c.nextN = true, n
		c.k.path[n], c.k.id[n] = live[i].at(c.t.Dir), live[i].id
		c.k.mark(live[i], n)
		if !f.openResume(c, n, fp, off, saved.path, i == len(live)-1) {
			delete(c.k.seen, live[i].id)
			f.mu.Lock()
			c.pos = saved
			f.mu.Unlock()
			c.started = false
			return
		}
		f.openKube(c, f.after(c, es, live[i]), 0)
		return
	}
	if len(es) == 0 {
		return
	}
	if (c.fromEnd || f.readFromEnd()) && len(live) > 0 {
		for _, e := range live[:len(live)-1] {
			c.k.mark(e, 0)
		}
		last := live[len(live)-1]
		c.fromEnd = true
		c.k.path[0], c.k.id[0] = filepath.Join(c.t.Dir, last.name), last.id
		c.k.mark(last, 0)
		if !f.openAt(c, 0, true, func(r *tail.Reader) (int64, string) { return r.Size(), "end" }) {
			delete(c.k.seen, last.id)
			return
		}
		f.startsDone = f.startsDone || f.o.ReadFromEveryStart
		return
	}
	if first := es[0].restart; first > 0 && !(f.fresh && f.initial) && !c.k.restartsReported {
		// The runtime writes <restart>.log from 0 on and the kubelet
		// removes the files of the restarts before the previous one: a
		// container first seen at a later restart lost the lines of the
		// earlier ones, which no drover read (the container has no
		// position).
		c.k.restartsReported = true
		f.reportLostKube(c, 1, "removed before drover saw the container", "first_restart_found", first)
	}
	toOpen := live
	switch {
	case len(live) == len(es):
	case c.t.Compressed == discovery.ReadCompressed:
		toOpen = es
	case !(f.fresh && f.initial):
		// Files compressed before drover saw the container: rotated while
		// drover was not running, or faster than it looks.
		f.lostKube(c, es, "compressed before drover saw the container")
	}
	f.mu.Lock()
	c.pos = &position{lastSeen: now, path: saved.path}
	f.mu.Unlock()
	c.started = true
	if !f.openKube(c, toOpen, 0) && len(c.files) == 0 {
		f.mu.Lock()
		c.pos = saved
		f.mu.Unlock()
		c.started = false
		return
	}
	f.startsDone = f.startsDone || f.o.ReadFromEveryStart && f.o.ReadFrom == ReadFromEnd
}

// unreadCompressed looks for the file of a saved position among the
// compressed files (the same head once decompressed) and says how many
// of its bytes lie past the position; found is false when none is it.
func unreadCompressed(dir string, es []kubeEntry, fp tail.Fingerprint, off int64) (gz kubeEntry, unread int64, found bool) {
	if fp.HeadLen <= 0 || fp.HeadLen > tail.MaxHead {
		return gz, 0, false
	}
	for _, e := range es {
		if !e.gz {
			continue
		}
		n, ok := gzipSizeIfHead(filepath.Join(dir, e.name), fp)
		if ok {
			return e, max(n-off, 0), true
		}
	}
	return gz, 0, false
}

// gzipSizeIfHead decompresses path and returns its size when its head is
// fp's.
func gzipSizeIfHead(path string, fp tail.Fingerprint) (int64, bool) {
	file, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer file.Close()
	zr, err := gzip.NewReader(file)
	if err != nil {
		return 0, false
	}
	head := make([]byte, fp.HeadLen)
	if _, err := io.ReadFull(zr, head); err != nil || crc32.Checksum(head, crc32.MakeTable(crc32.Castagnoli)) != fp.HeadCRC {
		return 0, false
	}
	rest, err := io.Copy(io.Discard, zr)
	if err != nil {
		return 0, false
	}
	return int64(fp.HeadLen) + rest, true
}

// startKubeAfterLost starts a chain whose saved file is gone (compressed
// or removed while drover was not running): its unread lines are
// reported lost, and the chain goes on with the files that came after it:
// those of a later restart, and the uncompressed rotated files of its
// restart (the kubelet compresses all but the newest rotated file, so an
// uncompressed one was rotated after the saved file was). A saved rotated
// file's later ones are the files after its name.
func (f *Follower) startKubeAfterLost(c *chain, es []kubeEntry, n uint64, now time.Time) {
	saved := c.pos
	f.mu.Lock()
	atEnd := saved.loadedAtEnd != nil && *saved.loadedAtEnd
	_, fp, off, _ := saved.current()
	f.mu.Unlock()
	gz, unread, found := unreadCompressed(c.t.Dir, es, fp, off)
	ref, ok := parseKubeName(filepath.Base(saved.path))
	var rest []kubeEntry
	for _, e := range es {
		var later bool
		switch {
		case found:
			later = compareKube(e, gz) > 0
		case !ok:
			later = true
		case ref.rotated == "":
			later = e.restart >= ref.restart
		default:
			later = compareKube(e, ref) > 0
		}
		switch {
		case later:
			rest = append(rest, e)
		case !e.gz:
			c.k.mark(e, n)
		}
	}
	rest = f.readableAfter(c, rest)
	read := found && unread > 0 && c.t.Compressed == discovery.ReadCompressed
	switch {
	case read:
	case found && unread > 0:
		f.flusher.Mark()
		f.lostKube(c, es, "compressed while drover was not running (compressed = \"skip\")", "unread_bytes", unread)
	case !found && !atEnd:
		f.flusher.Mark()
		f.lostKube(c, es, "compressed or deleted while drover was not running")
	}
	f.mu.Lock()
	saved.goneReported, saved.loadedAtEnd = true, &yes
	c.pos = &position{lastSeen: now, path: saved.path}
	f.mu.Unlock()
	c.started, c.nextN = true, n
	if read {
		// The saved file, compressed: its rest, then the files after it.
		if !f.openKube(c, append([]kubeEntry{gz}, rest...), off) && len(c.files) == 0 {
			f.mu.Lock()
			c.pos = saved
			f.mu.Unlock()
			c.started = false
		}
		return
	}
	c.nextN = n + 1
	f.openKube(c, rest, 0)
}

// after returns the files of es after e, in order: those a chain that
// resumes in e reads next. Compressed ones are newer rotated files the
// kubelet compressed since (it compresses every rotated file but the
// newest): read, or reported lost with compressed = "skip".
func (f *Follower) after(c *chain, es []kubeEntry, e kubeEntry) []kubeEntry {
	i := slices.IndexFunc(es, func(x kubeEntry) bool { return x.name == e.name && !x.gz })
	if i < 0 {
		return nil
	}
	return f.readableAfter(c, es[i+1:])
}

// readableAfter drops the compressed files of rest, reporting their loss,
// unless compressed = "read".
func (f *Follower) readableAfter(c *chain, rest []kubeEntry) []kubeEntry {
	if c.t.Compressed == discovery.ReadCompressed {
		return rest
	}
	out := make([]kubeEntry, 0, len(rest))
	for _, e := range rest {
		if !e.gz {
			out = append(out, e)
		}
	}
	if len(out) < len(rest) {
		f.lostKube(c, rest, "compressed before drover read them (compressed = \"skip\")")
	}
	return out
}

// lostKube logs and counts the loss of a Kubernetes chain's unread lines
// in files it cannot read: compressed ones, or removed.
func (f *Follower) lostKube(c *chain, es []kubeEntry, why string, kv ...any) {
	var gz []string
	for _, e := range es {
		if e.gz {
			gz = append(gz, e.name)
		}
	}
	f.reportLostKube(c, 1, why, append([]any{"compressed_files", gz}, kv...)...)
}

// reportLostKube logs the loss of n files of a Kubernetes chain, then
// counts it.
func (f *Follower) reportLostKube(c *chain, n int, why string, kv ...any) {
	f.log.Error(f.o.Words.File+"s were compressed or deleted before drover read them; their lines are lost",
		c.with(append([]any{"reason", why}, kv...)...)...)
	f.m.Errors("purged").Add(float64(n))
	f.losses.Add(tail.LostPurged, uint64(n))
}

// pruneKube forgets the identities of files that left the directory and
// are not open, so that the chain's memory stays bounded by what the
// directory holds.
func (f *Follower) pruneKube(c *chain, es []kubeEntry) {
	if len(c.k.seen) <= len(es)+len(c.files) {
		return
	}
	keep := make(map[tail.FileID]bool, len(es)+len(c.files))
	for _, e := range es {
		keep[e.id] = true
	}
	for _, cf := range c.files {
		keep[c.k.id[cf.n]] = true
	}
	for id, s := range c.k.seen {
		if keep[id] {
			continue
		}
		delete(c.k.seen, id)
		if c.k.id[s.n] == id {
			delete(c.k.path, s.n)
			delete(c.k.id, s.n)
		}
	}
	for name := range c.k.latest {
		if !slices.ContainsFunc(es, func(e kubeEntry) bool { return e.name == name }) {
			delete(c.k.latest, name)
		}
	}
}

// kubePending reports whether a listing of the chain's directory shows a
// file the chain has not opened (one that waits for room, or could not be
// opened): the chain is not finished.
func (f *Follower) kubePending(c *chain) bool {
	if c.k == nil {
		return false
	}
	for _, e := range f.listKube(c.t.Dir) {
		if !e.gz && !f.knownKube(c, e) {
			return true
		}
	}
	return false
}

// sameHead reports whether the file at path begins as the file of fp did
// (a file that cannot be read counts as the same: opening it reports the
// error).
func sameHead(path string, fp tail.Fingerprint) bool {
	file, err := os.Open(path)
	if err != nil {
		return true
	}
	defer file.Close()
	ok, err := tail.HeadMatches(file, fp)
	return err != nil || ok
}

// watchesWrites reports whether fsnotify reports the writes to the
// chain's files: its directory is watched, and its files are in it (not
// behind symlinks, whose writes are polled).
func (f *Follower) watchesWrites(c *chain) bool {
	return f.watcher != nil && f.watcher.Watching(c.t.Dir) && (c.k == nil || !c.k.symlinked)
}

// dockerRotated lists the files docker's json-file driver rotated beside
// the targets of the symlinks among es, the files of directory dir
// (cri-dockerd's layout: 0.log -> /var/lib/docker/containers/<id>/<id>-json.log,
// rotated to <id>-json.log.1, .2, … under max-file, .1 the newest), as
// entries of the symlink's restart that sort before it, oldest first.
// Compressed ones (docker's compress option, <id>-json.log.<N>.gz) are
// left out.
func dockerRotated(dir string, es []kubeEntry) []kubeEntry {
	var out []kubeEntry
	for _, e := range es {
		if !e.link || e.gz || e.path != "" {
			continue
		}
		target, err := filepath.EvalSymlinks(filepath.Join(dir, e.name))
		if err != nil {
			continue
		}
		des, err := os.ReadDir(filepath.Dir(target))
		if err != nil {
			continue
		}
		base := filepath.Base(target)
		for _, de := range des {
			suffix, ok := strings.CutPrefix(de.Name(), base+".")
			if !ok {
				continue
			}
			k, err := strconv.ParseUint(suffix, 10, 32)
			if err != nil || k == 0 || suffix[0] == '0' {
				continue
			}
			path := filepath.Join(filepath.Dir(target), de.Name())
			fi, err := os.Stat(path)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			id, ok := tail.IDOf(fi)
			if !ok {
				continue
			}
			// Sorts before the live file (rotated != ""), the oldest
			// (highest number) first; no kubelet rotation name starts
			// with "~".
			out = append(out, kubeEntry{name: de.Name(), restart: e.restart, rotated: fmt.Sprintf("~%010d", math.MaxUint32-k),
				id: id, path: path})
		}
	}
	return out
}
