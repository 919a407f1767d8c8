package eventstream

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// The captures in testdata/, recorded from a real Nomad v1.6.5 agent (see
// testdata/README.md).
const (
	// CaptureSession is a whole first session, every namespace and topic:
	// indexes 8 to 52, until the agent was stopped.
	CaptureSession = "event-stream-session-allns.ndjson"
	// CaptureSessionDefaultNS is the same session without namespace=*.
	CaptureSessionDefaultNS = "event-stream-session-defaultns.ndjson"
	// CaptureAfterRestart is index=0 right after a restart of the agent
	// (persistent data dir): the buffer rebuilt from the Raft log, 8 to 57.
	CaptureAfterRestart = "event-stream-after-restart-index-0.ndjson"
	// CaptureAfterRestartIndex40 is index=40 after the restart: 40 to 57.
	CaptureAfterRestartIndex40 = "event-stream-after-restart-index-40.ndjson"
	// CaptureAfterRestartIndex1000 is index=1000 (in the future): only the
	// newest buffered item, 57.
	CaptureAfterRestartIndex1000 = "event-stream-after-restart-index-1000.ndjson"
	// CaptureSession2 is the second session, index=58 onwards: 58 to 86.
	CaptureSession2 = "event-stream-session2-allns.ndjson"
	// CaptureDevRestart is a -dev agent after a restart: the index starts
	// again (9, 10).
	CaptureDevRestart = "event-stream-dev-after-restart-index20.ndjson"
	// CaptureAcrossRestart is index=40 with receive times, cut when the
	// agent stopped (curl: partial chunked transfer).
	CaptureAcrossRestart = "event-stream-across-restart.ts.tsv"
	// CaptureSample is 22 s of topic=* without namespace=*.
	CaptureSample = "event-stream-sample-20s.ndjson"
)

// Fixture returns the path of a file in this package's testdata directory.
func Fixture(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", name)
}

// MustLoad loads a capture from testdata and panics on error (the captures
// are part of the repository).
func MustLoad(name string) []Item {
	items, err := LoadCapture(Fixture(name))
	if err != nil {
		panic(err)
	}
	return items
}

// History is everything the captured cluster published, in order: the
// first session (8 to 52), what came after the restart (55 to 57) and the
// second session (58 to 86). Items with the same index stay separate, as
// Nomad published them.
func History() []Item {
	out := MustLoad(CaptureSession)
	last := out[len(out)-1].Index
	for _, it := range MustLoad(CaptureAfterRestart) {
		if it.Index > last {
			out = append(out, it)
		}
	}
	last = out[len(out)-1].Index
	for _, it := range MustLoad(CaptureSession2) {
		if it.Index > last {
			out = append(out, it)
		}
	}
	return out
}

// List is a captured list response: its body and X-Nomad-Index.
type List struct {
	Body  []byte
	Index uint64
}

// LoadList reads a captured list response (name.json and name.headers.txt)
// from testdata.
func LoadList(name string) (List, error) {
	body, err := os.ReadFile(Fixture(name + ".json"))
	if err != nil {
		return List{}, fmt.Errorf("reading list fixture: %w", err)
	}
	headers, err := os.ReadFile(Fixture(name + ".headers.txt"))
	if err != nil {
		return List{}, fmt.Errorf("reading list fixture: %w", err)
	}
	var index uint64
	for _, line := range strings.Split(string(headers), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "X-Nomad-Index:"); ok {
			index, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return List{}, fmt.Errorf("%s: bad X-Nomad-Index: %w", name, err)
			}
		}
	}
	return List{Body: body, Index: index}, nil
}
