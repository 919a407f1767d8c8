// Package podlogs writes container log files for tests exactly as a
// Kubernetes node does: the directory layout of the kubelet, the line
// format of the container runtime (CRI for containerd and CRI-O, Docker's
// json-file behind cri-dockerd), and the rotation of whichever of them
// rotates.
//
// What it follows, and where that is in the sources:
//
//   - Layout (kubernetes pkg/kubelet/kuberuntime/helpers.go,
//     BuildPodLogsDirectory and BuildContainerLogsDirectory, and
//     kuberuntime_container.go): /var/log/pods/<namespace>_<pod>_<uid>/
//     <container>/<restartCount>.log, and the legacy symlink
//     /var/log/containers/<pod>_<namespace>_<container>-<containerID>.log
//     pointing at it.
//   - CRI lines (containerd internal/cri/io/logger.go, redirectLogs; the
//     format is the CRI's, k8s.io/cri-api LogTagPartial/LogTagFull):
//     "<time> <stream> <P|F> <content>\n", time as time.RFC3339Nano of
//     time.Now() (variable length: trailing zeros of the fraction are
//     dropped; the local zone's offset, "Z" in UTC). A line longer than
//     max_container_log_line_size (16384 by default) is cut into pieces
//     of that size tagged P, the rest F. "\r\n" and "\n" end a line and
//     are not written. Output that ends without a newline (the container
//     exits) is written as one last P line.
//   - Kubelet rotation (kubernetes pkg/kubelet/logs/container_log_manager.go,
//     rotateLog): when <restart>.log reaches containerLogMaxSize, the
//     kubelet (1) removes leftovers of a failed rotation (*.tmp, and an
//     uncompressed file whose .gz exists), (2) removes the oldest rotated
//     files so that at most containerLogMaxFiles-2 remain, (3) compresses
//     every uncompressed rotated file to <file>.gz through <file>.tmp
//     (write, rename, then remove the original), (4) renames <restart>.log
//     to <restart>.log.<YYYYMMDD-hhmmss> (timestampFormat "20060102-150405")
//     and asks the runtime to reopen the log (ReopenContainerLog: the
//     runtime creates <restart>.log anew and writes there from then on).
//     So the newest rotated file stays uncompressed until the next
//     rotation.
//   - Container restarts: the runtime writes <restart+1>.log; the kubelet's
//     container garbage collection keeps the logs of one dead container
//     per container name (MaxPerPodContainer = 1) and removes older ones.
//   - Docker json-file (moby daemon/logger/copier.go, jsonfilelog.go,
//     jsonlog/jsonlogbytes.go, loggerutils/logfile.go): one JSON object per
//     line, {"log":"<content>\n","stream":"stdout","time":"<RFC3339Nano, UTC>"};
//     the copier reads into a 16 KiB buffer, and a line that fills it
//     without a newline is logged as a partial message whose "log" has no
//     trailing "\n" (so a long line becomes 16 KiB pieces, the last one
//     ending in "\n"). The file is /var/lib/docker/containers/<id>/<id>-json.log,
//     the kubelet's <restart>.log is a symlink to it (cri-dockerd), and
//     docker rotates it itself (max-size, max-file): before a write that
//     finds the file at max-size, <id>-json.log.<N-1> becomes .<N> (the
//     oldest removed), the file becomes .1, and a new file is created; with
//     compress, the .1 file is gzipped to .1.gz afterwards. The kubelet
//     does not rotate docker's logs.
package podlogs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Runtime is the container runtime whose files are written.
type Runtime int

const (
	// CRI is containerd's and CRI-O's format, rotated by the kubelet.
	CRI Runtime = iota
	// Docker is docker's json-file behind cri-dockerd, rotated by docker.
	Docker
)

// Defaults of the runtimes and of the kubelet.
const (
	// DefaultMaxLine is containerd's max_container_log_line_size.
	DefaultMaxLine = 16384
	// DockerBuffer is the size of docker's copier buffer: longer lines are
	// split into partial messages of this size.
	DockerBuffer = 16 * 1024
	// DefaultMaxFiles is the kubelet's containerLogMaxFiles.
	DefaultMaxFiles = 5
	// TimestampFormat is the kubelet's suffix of a rotated file.
	TimestampFormat = "20060102-150405"
)

// Container writes the log of one container of one pod.
type Container struct {
	// Root is the kubelet's pod log directory, /var/log/pods.
	Root string
	// LegacyRoot, when set, is /var/log/containers: a symlink to the
	// current log file is kept there.
	LegacyRoot string
	// DockerRoot is /var/lib/docker/containers (Docker runtime only).
	DockerRoot string
	// Namespace, Pod and UID name the pod; Name the container.
	Namespace, Pod, UID, Name string
	// Runtime is the format and the rotation.
	Runtime Runtime
	// MaxLine is the CRI line limit; default DefaultMaxLine.
	MaxLine int
	// MaxFiles is the kubelet's containerLogMaxFiles (CRI) or docker's
	// max-file; default DefaultMaxFiles.
	MaxFiles int
	// DockerCompress is docker's compress option.
	DockerCompress bool
	// Now is the clock of the line times and of rotation names; default
	// time.Now. Two kubelet rotations in the same second of this clock are
	// refused (the kubelet would overwrite a compressed file).
	Now func() time.Time

	mu       sync.Mutex
	restart  int
	id       string
	f        *os.File
	pending  map[string][]byte // per stream: output not ended by a newline
	started  bool
	idSerial int
	maxSize  int64
}

// Dir is the container's log directory:
// <Root>/<namespace>_<pod>_<uid>/<container>.
func (c *Container) Dir() string {
	return filepath.Join(c.PodDir(), c.Name)
}

// PodDir is <Root>/<namespace>_<pod>_<uid>.
func (c *Container) PodDir() string {
	return filepath.Join(c.Root, c.Namespace+"_"+c.Pod+"_"+c.UID)
}

// Path is the current log file: <Dir>/<restart>.log.
func (c *Container) Path() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pathLocked()
}

func (c *Container) pathLocked() string {
	return filepath.Join(c.Dir(), strconv.Itoa(c.restart)+".log")
}

// Restart is the current restart count.
func (c *Container) Restart() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restart
}

// ContainerID is the runtime's id of the current container.
func (c *Container) ContainerID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

func (c *Container) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Container) maxFiles() int {
	if c.MaxFiles > 1 {
		return c.MaxFiles
	}
	return DefaultMaxFiles
}

// Start creates the directories and the log file of restart 0 (the
// container started). Write starts it when it was not.
func (c *Container) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.startLocked()
}

func (c *Container) startLocked() error {
	if c.started {
		return nil
	}
	c.pending = make(map[string][]byte)
	if err := c.openLocked(); err != nil {
		return err
	}
	c.started = true
	return nil
}

// openLocked creates the current container's log file (and for docker its
// json file and the kubelet's symlink to it).
func (c *Container) openLocked() error {
	if err := os.MkdirAll(c.Dir(), 0o755); err != nil {
		return err
	}
	c.idSerial++
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d/%d", c.UID, c.Name, c.restart, c.idSerial))
	c.id = hex.EncodeToString(sum[:])
	path := c.pathLocked()
	file := path
	if c.Runtime == Docker {
		if c.DockerRoot == "" {
			return errors.New("podlogs: Docker runtime without DockerRoot")
		}
		dir := filepath.Join(c.DockerRoot, c.id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		file = filepath.Join(dir, c.id+"-json.log")
		if err := os.Symlink(file, path); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	c.f = f
	if c.LegacyRoot != "" {
		if err := os.MkdirAll(c.LegacyRoot, 0o755); err != nil {
			return err
		}
		link := filepath.Join(c.LegacyRoot, fmt.Sprintf("%s_%s_%s-%s.log", c.Pod, c.Namespace, c.Name, c.id))
		if err := os.Symlink(path, link); err != nil {
			return err
		}
	}
	return nil
}

// Write is the container writing p to stream ("stdout" or "stderr"):
// the runtime writes each line ended by "\n" (CRI: cut at MaxLine;
// docker: cut at 16 KiB) and keeps the rest until more output or Stop.
func (c *Container) Write(stream string, p []byte) error {
	if stream != "stdout" && stream != "stderr" {
		return fmt.Errorf("podlogs: stream %q", stream)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.startLocked(); err != nil {
		return err
	}
	buf := append(c.pending[stream], p...)
	limit := c.MaxLine
	if limit <= 0 {
		limit = DefaultMaxLine
	}
	if c.Runtime == Docker {
		limit = DockerBuffer
	}
	for {
		i := bytes.IndexByte(buf, '\n')
		// containerd writes a piece once more than MaxLine bytes are
		// without a newline; docker's copier once its 16 KiB buffer is full
		// without one (so a line of exactly 16 KiB is a full piece and an
		// empty last one).
		end := i // the line's content ends here; containerd drops "\r\n" before it measures
		if end > 0 && buf[end-1] == '\r' {
			end--
		}
		cut := end > limit || (i < 0 && len(buf) > limit)
		if c.Runtime == Docker {
			cut = i >= limit || (i < 0 && len(buf) >= limit)
		}
		if cut {
			if err := c.writeLocked(stream, buf[:limit], true); err != nil {
				return err
			}
			buf = buf[limit:]
			continue
		}
		if i < 0 {
			break
		}
		line := buf[:i]
		if c.Runtime == CRI && len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if err := c.writeLocked(stream, line, false); err != nil {
			return err
		}
		buf = buf[i+1:]
	}
	c.pending[stream] = append([]byte(nil), buf...)
	return nil
}

// WriteLine writes one line (a newline is added).
func (c *Container) WriteLine(stream, line string) error {
	return c.Write(stream, []byte(line+"\n"))
}

// writeLocked writes one record: a CRI line or a docker JSON line.
func (c *Container) writeLocked(stream string, content []byte, partial bool) error {
	var rec []byte
	now := c.now()
	if c.Runtime == CRI {
		tag := "F"
		if partial {
			tag = "P"
		}
		rec = now.AppendFormat(rec, time.RFC3339Nano)
		rec = append(rec, ' ')
		rec = append(rec, stream...)
		rec = append(rec, ' ')
		rec = append(rec, tag...)
		rec = append(rec, ' ')
		rec = append(rec, content...)
		rec = append(rec, '\n')
	} else {
		if c.maxSize > 0 {
			if st, err := c.f.Stat(); err == nil && st.Size() >= c.maxSize {
				if err := c.dockerRotateLocked(); err != nil {
					return err
				}
			}
		}
		msg := content
		if !partial {
			msg = append(append([]byte(nil), content...), '\n')
		}
		rec = append(rec, `{"log":`...)
		rec = appendDockerString(rec, msg)
		rec = append(rec, `,"stream":"`...)
		rec = append(rec, stream...)
		rec = append(rec, `","time":"`...)
		rec = now.UTC().AppendFormat(rec, time.RFC3339Nano)
		rec = append(rec, "\"}\n"...)
	}
	_, err := c.f.Write(rec)
	return err
}

// Stop is the container exiting: output not ended by a newline is
// written as a last partial line (CRI) or partial message (docker), and
// the file is closed.
func (c *Container) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		return nil
	}
	for _, s := range []string{"stdout", "stderr"} {
		if p := c.pending[s]; len(p) > 0 {
			if err := c.writeLocked(s, p, true); err != nil {
				return err
			}
			c.pending[s] = nil
		}
	}
	err := c.f.Close()
	c.started = false
	return err
}

// RestartContainer is the container exiting and starting again: the
// runtime writes <restart+1>.log; the kubelet's garbage collection removes
// the log files of the container before the previous one.
func (c *Container) RestartContainer() error {
	if err := c.Stop(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.restart - 1
	c.restart++
	if old >= 0 {
		matches, _ := filepath.Glob(filepath.Join(c.Dir(), strconv.Itoa(old)+".log*"))
		for _, m := range matches {
			if err := os.Remove(m); err != nil {
				return err
			}
		}
	}
	return c.startLocked()
}

// RemovePod is the kubelet removing the pod's log directory after the pod
// was deleted (and the legacy symlinks).
func (c *Container) RemovePod() error {
	_ = c.Stop()
	if c.LegacyRoot != "" {
		links, _ := filepath.Glob(filepath.Join(c.LegacyRoot, fmt.Sprintf("%s_%s_%s-*.log", c.Pod, c.Namespace, c.Name)))
		for _, l := range links {
			_ = os.Remove(l)
		}
	}
	return os.RemoveAll(c.PodDir())
}

// Rotate rotates the current log file as the kubelet does (CRI; see the
// package documentation for the steps), or as docker does (Docker).
func (c *Container) Rotate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.startLocked(); err != nil {
		return err
	}
	if c.Runtime == Docker {
		return c.dockerRotateLocked()
	}
	log := c.pathLocked()
	logs, err := filepath.Glob(log + ".*")
	if err != nil {
		return err
	}
	// 1. Leftovers of a failed rotation.
	var inuse []string
	for _, l := range logs {
		if strings.HasSuffix(l, ".tmp") || (!strings.HasSuffix(l, ".gz") && contains(logs, l+".gz")) {
			if err := os.Remove(l); err != nil {
				return err
			}
			continue
		}
		inuse = append(inuse, l)
	}
	// 2. At most MaxFiles-2 rotated files, the oldest removed first.
	sort.Strings(inuse)
	keep := max(c.maxFiles()-2, 0)
	for len(inuse) > keep {
		if err := os.Remove(inuse[0]); err != nil {
			return err
		}
		inuse = inuse[1:]
	}
	// 3. Compress the uncompressed rotated files.
	for _, l := range inuse {
		if strings.HasSuffix(l, ".gz") {
			continue
		}
		if err := compress(l); err != nil {
			return err
		}
	}
	// 4. Rename the live file and reopen.
	rotated := log + "." + c.now().Format(TimestampFormat)
	if _, err := os.Lstat(rotated); err == nil {
		return fmt.Errorf("podlogs: %s exists: two rotations within one second of the clock", rotated)
	}
	if _, err := os.Lstat(rotated + ".gz"); err == nil {
		return fmt.Errorf("podlogs: %s.gz exists: two rotations within one second of the clock", rotated)
	}
	if err := os.Rename(log, rotated); err != nil {
		return err
	}
	if err := c.f.Close(); err != nil {
		return err
	}
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	c.f = f
	return nil
}

// compress gzips l to l.gz as the kubelet does: through l.tmp, then
// rename, then remove l.
func compress(l string) error {
	r, err := os.Open(l)
	if err != nil {
		return err
	}
	defer r.Close()
	tmp := l + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	w := gzip.NewWriter(f)
	if _, err := io.Copy(w, r); err != nil {
		f.Close()
		return err
	}
	if err := w.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, l+".gz"); err != nil {
		return err
	}
	return os.Remove(l)
}

// DockerMaxSize makes docker rotate before a write that finds the file at
// n bytes or more (docker's max-size); 0 rotates only on Rotate.
func (c *Container) DockerMaxSize(n int64) {
	c.mu.Lock()
	c.maxSize = n
	c.mu.Unlock()
}

// dockerRotateLocked is loggerutils.LogFile.rotate: shift .N-1 to .N
// (removing the last), rename the file to .1, create it anew, then
// compress .1 when asked.
func (c *Container) dockerRotateLocked() error {
	name := c.f.Name()
	if err := c.f.Close(); err != nil {
		return err
	}
	n := c.maxFiles()
	ext := ""
	if c.DockerCompress {
		ext = ".gz"
	}
	if err := os.Remove(fmt.Sprintf("%s.%d%s", name, n-1, ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for i := n - 1; i > 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d%s", name, i-1, ext), fmt.Sprintf("%s.%d%s", name, i, ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(name, name+".1"); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	c.f = f
	if c.DockerCompress {
		return compress(name + ".1")
	}
	return nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// appendDockerString is jsonlog's ffjsonWriteJSONBytesAsString: "\\", '"',
// "\n", "\r" escaped by a backslash, other control characters and '<',
// '>', '&' as \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029 as
// \u2028 and \u2029.
func appendDockerString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		b := s[i]
		if b < 0x80 {
			switch {
			case b >= 0x20 && b != '\\' && b != '"' && b != '<' && b != '>' && b != '&':
				dst = append(dst, b)
			case b == '\\' || b == '"':
				dst = append(dst, '\\', b)
			case b == '\n':
				dst = append(dst, '\\', 'n')
			case b == '\r':
				dst = append(dst, '\\', 'r')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == 0x2028 || r == 0x2029:
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
