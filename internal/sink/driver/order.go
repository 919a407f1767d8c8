package driver

import (
	"sync"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/batch"
)

// streamsInFlight counts, per stream (its *event.Meta: every source gives
// each stream one), the requests in flight that hold events of it. With
// Options.OrderByStream a request goes out only when none of its streams
// is in flight, so that several requests are in flight at once while each
// stream's events reach the destination in order, retries included.
type streamsInFlight struct {
	mu sync.Mutex
	n  map[*event.Meta]int
}

// streamsOf returns the distinct streams of req's events, in order of
// first appearance. Events of one stream come in runs (a source batch
// holds one stream), so this is a comparison per event.
func streamsOf(req *batch.Request) []*event.Meta {
	var out []*event.Meta
	var last *event.Meta
	first := true
	for _, e := range req.Events() {
		if !first && e.Meta == last {
			continue
		}
		first, last = false, e.Meta
		seen := false
		for _, m := range out {
			if m == e.Meta {
				seen = true
				break
			}
		}
		if !seen {
			out = append(out, e.Meta)
		}
	}
	return out
}

// free reports whether no request in flight holds any of ms.
func (s *streamsInFlight) free(ms []*event.Meta) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		if s.n[m] > 0 {
			return false
		}
	}
	return true
}

// hold counts a request of ms in flight.
func (s *streamsInFlight) hold(ms []*event.Meta) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[*event.Meta]int{}
	}
	for _, m := range ms {
		s.n[m]++
	}
}

// release counts a request of ms done.
func (s *streamsInFlight) release(ms []*event.Meta) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		if s.n[m]--; s.n[m] <= 0 {
			delete(s.n, m)
		}
	}
}
