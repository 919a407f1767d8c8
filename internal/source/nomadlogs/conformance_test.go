package nomadlogs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/nomadtest"
	"github.com/drover-dev/drover/internal/source/sourcetest"
)

// The nomad_logs source runs the source conformance suite over one
// allocation of two tasks, stdout and stderr each, written by logmon.
func TestConformance(t *testing.T) {
	sourcetest.Run(t, sourcetest.Harness{NewWorld: newNomadWorld})
}

// nomadWorld is one allocation (tasks "app" and "web") on a fake Nomad
// node: its four streams are the world's streams.
type nomadWorld struct {
	h       *harness
	id      string
	mons    []*nomadtest.Logmon
	gone    bool
	maxOpen int
}

var worldStreams = []struct {
	task   string
	stream nomad.Stream
}{{"app", nomad.Stdout}, {"app", nomad.Stderr}, {"web", nomad.Stdout}, {"web", nomad.Stderr}}

func newNomadWorld(t *testing.T) sourcetest.World {
	h := newHarness(t, nil)
	w := &nomadWorld{h: h}
	w.id = h.addAlloc(nomadtest.Alloc{Job: "conformance", Tasks: []nomadtest.Task{{Name: "app"}, {Name: "web"}}})
	for _, s := range worldStreams {
		w.mons = append(w.mons, newLogmon(t, nomad.LogsDir(h.allocDir, w.id), s.task, s.stream, 1<<20, 0))
	}
	return w
}

func (w *nomadWorld) Streams() int { return len(worldStreams) }

func (w *nomadWorld) NewSource(t *testing.T, m *metrics.Component) component.Source {
	cfg := *w.h.cfg
	cfg.MaxOpenFiles = w.maxOpen
	src, err := New(componentContext(w.h.dataDir, m, &logBuffer{}), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func (w *nomadWorld) Append(t *testing.T, s int, recs []string) {
	w.mons[s].Write([]byte(strings.Join(recs, "\n") + "\n"))
}

func (w *nomadWorld) Record(e *event.Event) (int, string, bool) {
	task, _ := e.Get("nomad.task_name")
	stream, _ := e.Get("stream")
	alloc, _ := e.Get("nomad.alloc_id")
	if alloc.Str() != w.id {
		return 0, "", false
	}
	for i, s := range worldStreams {
		if s.task == task.Str() && string(s.stream) == stream.Str() {
			return i, string(e.Message), true
		}
	}
	return 0, "", false
}

func (w *nomadWorld) Files() *sourcetest.Files {
	return &sourcetest.Files{
		Rotations: []sourcetest.Rotation{
			{Name: "numbered", Rotate: func(t *testing.T, s int) { w.mons[s].Rotate() }},
		},
		Truncate: func(t *testing.T, s int) { w.mons[s].Truncate() },
		Delete: func(t *testing.T, s int) {
			// Garbage collection takes the allocation's directory, with
			// every stream's files.
			if w.gone {
				return
			}
			w.gone = true
			if err := os.RemoveAll(filepath.Join(w.h.allocDir, w.id)); err != nil {
				t.Fatal(err)
			}
		},
		SplitLine: func(t *testing.T, s int, rec string, at int) {
			w.mons[s].Write([]byte(rec[:at]))
			w.mons[s].Rotate()
			w.mons[s].Write([]byte(rec[at:] + "\n"))
		},
		SetMaxOpenFiles: func(n int) { w.maxOpen = n },
	}
}
