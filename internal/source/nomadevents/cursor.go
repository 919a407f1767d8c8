package nomadevents

import "slices"

// Cursor is a position in Nomad's event stream: every event with an index
// below Index has been delivered, and so have the events at Index whose
// identities (see identity) are in Seen. Seen is a multiset: Nomad can
// publish the same object twice at one index.
//
// Exact says that Index is the index of an event this source delivered.
// Only then does the first index of a resumed stream tell something: Nomad
// starts a stream at the requested index when it still holds it, so a later
// first index means events may have aged out of its buffer (a gap), and an
// earlier one means the cluster's index went backwards (a regression).
// Cursors made from start_at ("oldest", "now", "index:N") are not exact.
type Cursor struct {
	Index uint64   `json:"index"`
	Seen  []uint64 `json:"seen,omitempty"`
	Exact bool     `json:"exact"`
}

// identity hashes what tells the events of one index apart: topic, type,
// namespace and key. Payloads are left out on purpose: after an agent
// restart Nomad replays the same events with payloads rebuilt from its Raft
// log.
func identity(ev *rawEvent) uint64 {
	// FNV-1a, 64 bit, with a NUL between the parts.
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i, part := range [...][]byte{ev.topic, ev.typ, ev.namespace, ev.key} {
		if i > 0 {
			h *= prime // h ^= 0
		}
		for _, c := range part {
			h ^= uint64(c)
			h *= prime
		}
	}
	return h
}

// verdict is what the first index of a connection, or a step backwards
// within one, says about the stream.
type verdict uint8

const (
	// streamOK: the stream continues where the cursor is.
	streamOK verdict = iota
	// streamGap: the stream started after an exact cursor; the events in
	// between may have aged out of Nomad's buffer.
	streamGap
	// streamBehind: the stream started before an exact cursor. Either the
	// index went backwards (cluster restored, -dev agent restarted), or an
	// agent that restarted is still rebuilding its buffer from its Raft
	// log (it sends old indexes until it holds the cursor's again).
	streamBehind
	// streamRegression: the index went backwards within a connection.
	streamRegression
)

// gate decides which events of one connection are new, and moves its
// cursor over them. It is used by one goroutine.
type gate struct {
	cur Cursor
	// skip are the identities at cur.Index that a resumed stream repeats
	// and that were already delivered.
	skip    []uint64
	started bool
	last    uint64
}

// newGate returns a gate for a connection that resumes at c.
func newGate(c Cursor) *gate {
	own := c
	// The gate appends to Seen; positions handed out earlier keep their
	// length and never see those appends, but two gates must not share an
	// array.
	own.Seen = slices.Clone(c.Seen)
	return &gate{cur: own, skip: slices.Clone(c.Seen)}
}

// check classifies a frame at index before its events are offered.
func (g *gate) check(index uint64) verdict {
	if !g.started {
		g.started, g.last = true, index
		switch {
		case !g.cur.Exact:
			return streamOK
		case index < g.cur.Index:
			return streamBehind
		case index > g.cur.Index:
			return streamGap
		}
		return streamOK
	}
	if index < g.last {
		return streamRegression
	}
	g.last = index
	return streamOK
}

// accept reports whether the event with identity id at index is new, and
// moves the cursor over it when it is.
func (g *gate) accept(index, id uint64) bool {
	switch {
	case index < g.cur.Index:
		return false
	case index == g.cur.Index:
		if i := slices.Index(g.skip, id); i >= 0 {
			g.skip = slices.Delete(g.skip, i, i+1)
			return false
		}
		g.cur.Seen = append(g.cur.Seen, id)
		g.cur.Exact = true
		return true
	}
	g.cur = Cursor{Index: index, Seen: []uint64{id}, Exact: true}
	g.skip = nil
	return true
}

// position returns the cursor just past the events accepted so far. The
// returned value stays valid while the gate goes on.
func (g *gate) position() Cursor {
	p := g.cur
	p.Seen = slices.Clip(p.Seen)
	return p
}
