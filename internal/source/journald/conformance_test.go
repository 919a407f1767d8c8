package journald

import (
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/source/journald/journaltest"
	"github.com/drover-dev/drover/internal/source/sourcetest"
)

// The journald source runs the parts of the source conformance suite that
// apply to a journal: one stream of entries, restarts and crashes.
func TestConformance(t *testing.T) {
	sourcetest.Run(t, sourcetest.Harness{NewWorld: func(t *testing.T) sourcetest.World {
		return &journalWorld{j: journaltest.New(t), data: t.TempDir()}
	}})
}

// journalWorld is a journal directory written by systemd-journal-remote.
type journalWorld struct {
	j    *journaltest.Journal
	data string
	n    int
}

func (w *journalWorld) Streams() int { return 1 }

func (w *journalWorld) NewSource(t *testing.T, m *metrics.Component) component.Source {
	src, err := New(component.Context{Kind: component.KindSource, Type: SourceType, ID: "conformance", DataDir: w.data, Metrics: m}, testConfig(w.j))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func (w *journalWorld) Append(t *testing.T, _ int, recs []string) {
	es := make([]journaltest.Entry, len(recs))
	for i, r := range recs {
		es[i] = journaltest.Msg(base.Add(time.Duration(w.n)*time.Millisecond), r)
		w.n++
	}
	w.j.Append(es...)
}

func (w *journalWorld) Record(e *event.Event) (int, string, bool) { return 0, string(e.Message), true }

func (w *journalWorld) Files() *sourcetest.Files { return nil }
