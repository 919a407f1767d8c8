package nomadevents

import (
	"encoding/json"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/nomadtest/eventstream"
	"github.com/drover-dev/drover/internal/source/sourcetest"
)

// The nomad_events source runs the parts of the source conformance suite
// that apply to an event stream: one stream of events, restarts and
// crashes.
func TestConformance(t *testing.T) {
	sourcetest.Run(t, sourcetest.Harness{NewWorld: func(t *testing.T) sourcetest.World {
		srv := eventstream.New(eventstream.Options{BufferSize: 1000})
		t.Cleanup(srv.Close)
		return &eventWorld{srv: srv, data: t.TempDir(), index: 100}
	}})
}

// eventWorld is a fake agent's event stream: every record is the key of
// one JobRegistered event, one event per index.
type eventWorld struct {
	srv   *eventstream.Server
	data  string
	index uint64
}

func (w *eventWorld) Streams() int { return 1 }

func (w *eventWorld) NewSource(t *testing.T, m *metrics.Component) component.Source {
	src, err := New(component.Context{Kind: component.KindSource, Type: SourceType, ID: "conformance", DataDir: w.data, Metrics: m}, testConfig(w.srv))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func (w *eventWorld) Append(t *testing.T, _ int, recs []string) {
	items := make([]eventstream.Item, len(recs))
	for i, r := range recs {
		w.index++
		raw, err := json.Marshal(map[string]any{
			"Topic": "Job", "Type": "JobRegistered", "Key": r, "Namespace": "default",
			"FilterKeys": []string{}, "Index": w.index, "Payload": map[string]any{"Job": map[string]any{"ID": r}},
		})
		if err != nil {
			t.Fatal(err)
		}
		items[i] = eventstream.Item{Index: w.index, Events: []eventstream.Event{{
			Topic: "Job", Type: "JobRegistered", Key: r, Namespace: "default", Index: w.index, Raw: raw,
		}}}
	}
	w.srv.Publish(items...)
}

func (w *eventWorld) Record(e *event.Event) (int, string, bool) {
	if syn, _ := e.Get("synthetic"); syn.Bool() {
		return 0, "", false
	}
	k, ok := e.Get("key")
	return 0, k.Str(), ok
}

func (w *eventWorld) Files() *sourcetest.Files { return nil }
