package nomadlogs

import (
	"bytes"
	"context"
	"os"
	"time"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/event"
)

// alloc is what the source knows of one allocation: its last group from
// discovery (nil while the API has not described it) and its streams.
type alloc struct {
	id    string
	group *nomad.Group
	// gone: discovery reported it garbage-collected.
	gone bool
	// streams are the allocation's active streams.
	streams map[streamID]*stream
	// released are the streams of a terminal allocation that were read to
	// their end and released; they are not followed again while the
	// allocation stays terminal.
	released map[streamID]bool

	// For allocations without a group: when its log files were first
	// found, when to look it up again, whether a lookup is running, and
	// whether the wait ran out (its streams use path metadata).
	firstSeen  time.Time
	nextLookup time.Time
	lookingUp  bool
	pathOnly   bool
}

func (s *Source) allocOf(id string) *alloc {
	a := s.allocs[id]
	if a == nil {
		a = &alloc{id: id, streams: map[streamID]*stream{}, released: map[streamID]bool{}}
		s.allocs[id] = a
	}
	return a
}

// target returns the group's target for a stream, nil when it has none.
func (a *alloc) target(id streamID) *nomad.Target {
	if a.group == nil {
		return nil
	}
	for i := range a.group.Targets {
		if t := &a.group.Targets[i]; t.Task == id.task && t.Stream == id.stream {
			return t
		}
	}
	return nil
}

// update is one send of the watcher; full marks the first send of a
// watch, the complete state of the node.
type update struct {
	groups []nomad.Group
	full   bool
}

// discover runs the watcher until ctx ends and forwards its groups to the
// run loop. A watch that fails for good (403, unknown node, not a client)
// is logged and started again after retry_max_backoff: meanwhile files
// are shipped with the metadata their path gives.
func (s *Source) discover(ctx context.Context) {
	lastErr := ""
	for {
		up := make(chan []nomad.Group)
		done := make(chan error, 1)
		go func() { done <- s.w.Run(ctx, up) }()
		full := true
		var err error
	watch:
		for {
			select {
			case gs := <-up:
				select {
				case s.updates <- update{groups: gs, full: full}:
					full = false
				case <-ctx.Done():
					<-done
					return
				}
			case err = <-done:
				break watch
			}
		}
		if ctx.Err() != nil {
			return
		}
		s.m.Errors("discovery").Inc()
		if msg := err.Error(); msg != lastErr {
			lastErr = msg
			s.log.Error("cannot watch the node's allocations; log files are shipped with the metadata their path gives until this is fixed",
				"error", err, "retry_in", s.cfg.RetryMaxBackoff)
		}
		t := time.NewTimer(s.cfg.RetryMaxBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// applyUpdate applies one send of the watcher. In a full set, an
// allocation the source knew from an earlier watch and that is absent
// has nothing to ship: garbage-collected when its directory is gone,
// else no longer selected.
func (s *Source) applyUpdate(u update, now time.Time) {
	s.resolveAllocDir()
	if u.full {
		in := make(map[string]bool, len(u.groups))
		for _, g := range u.groups {
			in[g.AllocID] = true
		}
		for id, a := range s.allocs {
			if a.group == nil || in[id] || a.gone {
				continue
			}
			g := nomad.Group{AllocID: id}
			if s.allocDir != "" {
				_, err := os.Stat(nomad.LogsDir(s.allocDir, id))
				g.Gone = os.IsNotExist(err)
			}
			s.applyGroup(g, now)
		}
	}
	for _, g := range u.groups {
		s.applyGroup(g, now)
	}
	s.updateGauges()
}

// applyGroup makes the allocation's streams follow its group: streams
// for new targets, metadata replaced, streams of unselected tasks
// stopped, terminal and gone allocations read to their end.
func (s *Source) applyGroup(g nomad.Group, now time.Time) {
	a := s.allocOf(g.AllocID)
	a.group = &g
	delete(s.unknown, g.AllocID)
	if g.Gone {
		a.gone = true
		node, _ := s.w.Node()
		for _, st := range a.streams {
			if !st.ready {
				// Its metadata never came: ship it with what the path says.
				s.setMeta(st, nomad.PathMeta(s.cctx.ID, node, st.id.alloc, st.id.task, st.id.stream), true)
				s.sm.pathMeta.Inc()
			}
			st.gone = true
			s.endStream(st, now)
		}
		return
	}
	a.gone = false
	for id, st := range a.streams {
		if a.target(id) == nil {
			s.stopStream(st, "its task is not selected")
		}
	}
	if !g.Terminal {
		clear(a.released)
	}
	for i := range g.Targets {
		t := &g.Targets[i]
		id := targetID(t)
		if g.Terminal && a.released[id] {
			continue
		}
		st := a.streams[id]
		if st == nil {
			st = s.newStream(a, id, t.LogsDir, t.Meta, now)
		} else if !sameMeta(st.meta, t.Meta) || st.pathMeta || !st.ready {
			s.setMeta(st, t.Meta, false)
		}
		st.terminal = g.Terminal
		if g.Terminal {
			s.endStream(st, now)
		} else if !st.onlyFileDeleted() {
			st.endAt = time.Time{}
		}
		st.poll.Next = now
	}
	if s.allocDir != "" {
		s.scanAlloc(g.AllocID, now)
	}
}

// endStream records that no more writes are expected in the stream.
func (s *Source) endStream(st *stream, now time.Time) {
	if st.endAt.IsZero() {
		st.endAt = now
	}
	st.poll.Next = now
}

// lookupResult is the answer of Watcher.Lookup for one allocation.
type lookupResult struct {
	allocID string
	group   nomad.Group
	found   bool
	err     error
}

// checkUnknown looks up the allocations whose files appeared before the
// watch described them, and gives their streams path metadata once
// unknown_alloc_wait ran out.
func (s *Source) checkUnknown(ctx context.Context, now time.Time) {
	for id, a := range s.unknown {
		if len(a.streams) == 0 {
			continue
		}
		if now.Sub(a.firstSeen) >= s.cfg.UnknownAllocWait {
			s.usePathMeta(a)
			delete(s.unknown, id)
			continue
		}
		if a.lookingUp || now.Before(a.nextLookup) {
			continue
		}
		a.lookingUp = true
		s.bg.Go(func() {
			g, found, err := s.w.Lookup(ctx, id)
			select {
			case s.lookups <- lookupResult{allocID: id, group: g, found: found, err: err}:
			case <-ctx.Done():
			}
		})
	}
}

// applyLookup applies a lookup's answer: the group when the API knows the
// allocation, else another lookup later.
func (s *Source) applyLookup(r lookupResult, now time.Time) {
	a := s.allocs[r.allocID]
	if a == nil {
		return
	}
	a.lookingUp = false
	if r.found && a.group == nil {
		s.applyGroup(r.group, now)
		s.updateGauges()
		return
	}
	a.nextLookup = now.Add(lookupRetry)
	if r.err != nil {
		s.log.Debug("looking up an allocation whose log files appeared failed", "alloc_id", r.allocID, "error", r.err)
	}
}

// usePathMeta gives the streams of an allocation the API did not describe
// the metadata their path gives, and starts reading them.
func (s *Source) usePathMeta(a *alloc) {
	a.pathOnly = true
	node, _ := s.w.Node()
	for _, st := range a.streams {
		if st.ready {
			continue
		}
		s.setMeta(st, nomad.PathMeta(s.cctx.ID, node, st.id.alloc, st.id.task, st.id.stream), true)
		s.sm.pathMeta.Inc()
	}
	s.log.Warn("the Nomad API does not describe this allocation (not listed, not readable with the token, or the API is unreachable); shipping its logs with the metadata of their path",
		"alloc_id", a.id, "waited", s.cfg.UnknownAllocWait, "streams", len(a.streams))
	s.updateGauges()
}

// sameMeta reports whether two metadata values are equal: a lookup and the
// watch build the same metadata separately, and the stream keeps the value
// its events already share.
func sameMeta(a, b *event.Meta) bool {
	return a == b || a != nil && b != nil && a.Source == b.Source && bytes.Equal(a.JSONMembers(), b.JSONMembers())
}
