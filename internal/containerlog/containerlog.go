// Package containerlog decodes the lines that container runtimes write to
// their log files: the CRI format of containerd and CRI-O (what the
// kubelet's /var/log/pods holds) and Docker's json-file format. The parse
// transform uses it for format = "cri" and "docker"; a Kubernetes source
// uses it, with a Joiner per container stream, to rejoin the pieces of
// lines the runtime split.
//
//	CRI:    2026-12-07T17:20:11.123456789Z stdout F message
//	        (P = partial: continued by the next line of the same stream)
//	docker: {"log":"message\n","stream":"stdout","time":"2026-12-07T17:20:11.123456789Z"}
//	        (a piece of a line over 16 KiB has no trailing newline)
package containerlog

import (
	"bytes"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/jsondec"
)

// Line is one decoded line.
type Line struct {
	// Time is when the runtime read the line from the container.
	Time time.Time
	// Stream is "stdout" or "stderr".
	Stream string
	// Partial is true for a piece of a longer line: the next piece of the
	// same stream continues it.
	Partial bool
	// Message is the container's output without the line terminator.
	Message []byte
}

// ParseCRI decodes a CRI log line. The message points into line.
func ParseCRI(line []byte) (Line, error) {
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return Line{}, errors.New("CRI line: no stream after the time")
	}
	t, err := parseTime(ts)
	if err != nil {
		return Line{}, fmt.Errorf("CRI line: %w", err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return Line{}, errors.New("CRI line: no tag after the stream")
	}
	var l Line
	switch string(stream) {
	case "stdout":
		l.Stream = "stdout"
	case "stderr":
		l.Stream = "stderr"
	default:
		return Line{}, fmt.Errorf("CRI line: unknown stream %q", truncate(stream))
	}
	tags, msg, _ := bytes.Cut(rest, []byte{' '})
	// Tags are separated by ':'; the first one is P (partial) or F (full).
	first, _, _ := bytes.Cut(tags, []byte{':'})
	switch string(first) {
	case "F":
	case "P":
		l.Partial = true
	default:
		return Line{}, fmt.Errorf("CRI line: unknown tag %q", truncate(tags))
	}
	l.Time, l.Message = t, msg
	return l, nil
}

func parseTime(b []byte) (time.Time, error) {
	s := unsafe.String(unsafe.SliceData(b), len(b))
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time %q", truncate(b))
	}
	return t, nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// DockerDecoder decodes Docker json-file lines. It is not safe for
// concurrent use; messages it returned stay valid after later calls.
type DockerDecoder struct {
	dec jsondec.Decoder
}

// Parse decodes one json-file line. The message points into line, or into
// the decoder's own memory when the log string holds escapes.
func (d *DockerDecoder) Parse(line []byte) (Line, error) {
	f, err := d.dec.Object(line)
	if err != nil {
		return Line{}, fmt.Errorf("docker line: %w", err)
	}
	logv, ok := f.Lookup("log")
	if !ok || logv.Kind() != event.KindString {
		return Line{}, errors.New(`docker line: no "log" string`)
	}
	var l Line
	msg := logv.Str()
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	} else {
		l.Partial = true
	}
	l.Message = unsafe.Slice(unsafe.StringData(msg), len(msg))
	switch s, _ := f.Lookup("stream"); s.Str() {
	case "stdout":
		l.Stream = "stdout"
	case "stderr":
		l.Stream = "stderr"
	case "":
	default:
		return Line{}, fmt.Errorf("docker line: unknown stream %q", truncate([]byte(s.Str())))
	}
	if tv, ok := f.Lookup("time"); ok {
		ts := tv.Str()
		t, err := parseTime(unsafe.Slice(unsafe.StringData(ts), len(ts)))
		if err != nil {
			return Line{}, fmt.Errorf("docker line: %w", err)
		}
		l.Time = t
	}
	return l, nil
}

// Joiner rejoins the pieces of one stream's split lines. Feed it every
// line of one container stream in order; it returns a whole line when the
// last piece arrives. A line longer than MaxBytes is cut there and marked
// truncated; the rest of its pieces are dropped until the line ends.
type Joiner struct {
	// MaxBytes bounds a joined line; 0 means 1 MiB.
	MaxBytes int

	buf       []byte
	time      time.Time
	pieces    int
	truncated bool
}

// Add takes the next line of the stream. When l ends a line, Add returns
// the whole line (its time is the first piece's) and done; the message is
// l's own when l was not split, or the Joiner's buffer, valid until the
// next call.
func (j *Joiner) Add(l Line) (whole Line, truncated, done bool) {
	limit := j.MaxBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	if j.pieces == 0 && !l.Partial {
		if len(l.Message) > limit {
			l.Message = l.Message[:limit]
			return l, true, true
		}
		return l, false, true
	}
	if j.pieces == 0 {
		j.buf, j.time, j.truncated = j.buf[:0], l.Time, false
	}
	j.pieces++
	if room := limit - len(j.buf); room < len(l.Message) {
		j.buf = append(j.buf, l.Message[:max(room, 0)]...)
		j.truncated = true
	} else {
		j.buf = append(j.buf, l.Message...)
	}
	if l.Partial {
		return Line{}, false, false
	}
	j.pieces = 0
	return Line{Time: j.time, Stream: l.Stream, Message: j.buf}, j.truncated, true
}

// Pending reports whether the Joiner holds pieces of an unfinished line.
func (j *Joiner) Pending() bool { return j.pieces > 0 }
