package metrics

import "testing"

func TestEventTotals(t *testing.T) {
	r := New()
	sink := r.Component("sink", "loki", "out")
	src := r.Component("source", "file", "app")
	sink.ReceivedEvents.Add(100)
	sink.Discarded("rejected").Add(3)
	sink.Discarded("too_old").Add(2)
	src.ReceivedEvents.Add(7)
	r.Component("sink", "loki", "idle")

	got := r.EventTotals()
	if len(got) != 3 || got[0].ID != "idle" || got[0].Received != 0 {
		t.Fatalf("totals: %+v", got)
	}
	got = got[1:]
	if s := got[0]; s.Kind != "sink" || s.Type != "loki" || s.ID != "out" || s.Received != 100 ||
		s.Discarded["rejected"] != 3 || s.Discarded["too_old"] != 2 || len(s.Discarded) != 2 {
		t.Fatalf("sink: %+v", s)
	}
	if s := got[1]; s.ID != "app" || s.Received != 7 || len(s.Discarded) != 0 {
		t.Fatalf("source: %+v", s)
	}
}
