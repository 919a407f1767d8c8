package nomad

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Stream is one of the two output streams of a task.
type Stream string

// The streams logmon writes for every task.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Streams lists the streams in the order targets are built.
var Streams = [2]Stream{Stdout, Stderr}

// Valid reports whether s is stdout or stderr.
func (s Stream) Valid() bool { return s == Stdout || s == Stderr }

// LogsDir returns the directory that holds the log files of every task of
// an allocation: <allocDir>/<allocID>/alloc/logs.
func LogsDir(allocDir, allocID string) string {
	return filepath.Join(allocDir, allocID, "alloc", "logs")
}

// LogFileName returns the name logmon gives the n-th file of a task's
// stream: <task>.<stream>.<n>.
func LogFileName(task string, stream Stream, n uint64) string {
	return task + "." + string(stream) + "." + strconv.FormatUint(n, 10)
}

// MatchLogFile reports whether name (a base name, no directory) is exactly
// <task>.<stream>.<N>, where N is a decimal number as logmon writes it
// (digits only, no sign, no leading zero unless N is 0), and returns N.
//
// The match is exact: task "api" does not match "api-proxy.stdout.0", and
// the named pipes ".<task>.<stream>.fifo" never match.
func MatchLogFile(name, task string, stream Stream) (n uint64, ok bool) {
	if task == "" || !stream.Valid() {
		return 0, false
	}
	rest, found := strings.CutPrefix(name, task)
	if !found {
		return 0, false
	}
	rest, found = strings.CutPrefix(rest, "."+string(stream)+".")
	if !found {
		return 0, false
	}
	return parseIndex(rest)
}

// parseIndex parses the N of a log file name: canonical decimal digits that
// fit in a uint64.
func parseIndex(s string) (uint64, bool) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// LogFile names one task log file.
type LogFile struct {
	// AllocID is the allocation's ID; empty when parsed from a base name.
	AllocID string
	// Task is the task name; it may contain dots.
	Task   string
	Stream Stream
	// N is the file's number: 0 for the first file, the highest is the one
	// logmon writes.
	N uint64
}

// ParseLogFileName splits a base name <task>.<stream>.<N> into its parts.
// The task name is everything before the last ".stdout." or ".stderr.", so
// task names with dots ("my.task.stdout.3") are handled. Fifos and any
// other names are rejected.
func ParseLogFileName(name string) (LogFile, bool) {
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return LogFile{}, false
	}
	n, ok := parseIndex(name[dot+1:])
	if !ok {
		return LogFile{}, false
	}
	head := name[:dot]
	dot = strings.LastIndexByte(head, '.')
	if dot <= 0 { // no stream, or an empty task name
		return LogFile{}, false
	}
	stream := Stream(head[dot+1:])
	if !stream.Valid() {
		return LogFile{}, false
	}
	task := head[:dot]
	if strings.ContainsAny(task, `/\`) {
		return LogFile{}, false
	}
	return LogFile{Task: task, Stream: stream, N: n}, true
}

// ParseLogPath parses a path <anything>/<alloc_id>/alloc/logs/<task>.<stream>.<N>
// back into its parts. It does not check the alloc dir prefix, so it works
// whatever the agent's alloc dir is.
func ParseLogPath(p string) (LogFile, bool) {
	p = filepath.ToSlash(filepath.Clean(p))
	parts := strings.Split(p, "/")
	if len(parts) < 4 {
		return LogFile{}, false
	}
	k := len(parts)
	if parts[k-2] != "logs" || parts[k-3] != "alloc" {
		return LogFile{}, false
	}
	allocID := parts[k-4]
	if allocID == "" || allocID[0] == '.' {
		return LogFile{}, false
	}
	lf, ok := ParseLogFileName(parts[k-1])
	if !ok {
		return LogFile{}, false
	}
	lf.AllocID = allocID
	return lf, true
}

// ListLogFiles returns the regular files of one task stream in logsDir,
// sorted by N. Fifos, directories and names that are not exactly
// <task>.<stream>.<N> are left out. A missing directory is not an error: it
// returns no files.
func ListLogFiles(logsDir, task string, stream Stream) ([]LogFile, error) {
	entries, err := os.ReadDir(logsDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing task logs in %s: %w", logsDir, err)
	}
	var out []LogFile
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		n, ok := MatchLogFile(e.Name(), task, stream)
		if !ok {
			continue
		}
		out = append(out, LogFile{Task: task, Stream: stream, N: n})
	}
	slices.SortFunc(out, func(a, b LogFile) int {
		switch {
		case a.N < b.N:
			return -1
		case a.N > b.N:
			return 1
		}
		return 0
	})
	return out, nil
}
