package follow

import (
	"bytes"
	"time"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/event"
)

// group is what the follower knows of one group of the discoverer: its
// last state and its chains.
type group struct {
	key      string
	terminal bool
	gone     bool
	// targets are the keys of the targets of the last group.
	targets map[string]bool
	// chains are the group's chains being followed.
	chains map[string]*chain
	// released are the targets of a terminal group that were read to
	// their end and released; they are not followed again while the group
	// stays terminal.
	released map[string]bool
}

// apply applies one send of the discoverer. The first send is the full
// set: the targets it names start by read_from when there is no saved
// position, and saved positions of targets it does not name went away
// while drover was not running (reported at its first scan).
func (f *Follower) apply(gs []discovery.Group, now time.Time, dirty map[string]struct{}) {
	if !f.firstSet {
		f.firstSet, f.initial = true, true
	}
	for i := range gs {
		f.applyGroup(&gs[i], now, dirty)
	}
	f.reportStates()
}

// applyGroup makes the group's chains follow it: chains for new targets,
// metadata and paths replaced, chains of targets no longer in it stopped,
// terminal and gone groups read to their end.
func (f *Follower) applyGroup(g *discovery.Group, now time.Time, dirty map[string]struct{}) {
	gr := f.groups[g.Key]
	if gr == nil {
		if g.Gone || len(g.Targets) == 0 {
			return // never followed: nothing to do
		}
		gr = &group{key: g.Key, chains: map[string]*chain{}, released: map[string]bool{}}
		f.groups[g.Key] = gr
	}
	if g.Gone {
		gr.gone = true
		for i := range g.Targets {
			if c := gr.chains[g.Targets[i].Key]; c != nil && g.Targets[i].Meta != nil && !c.ready {
				f.setMeta(c, g.Targets[i].Meta)
			}
		}
		for _, c := range gr.chains {
			if !c.ready {
				// No metadata to ship its lines with: its files are closed
				// and what they held unread is reported.
				open := make(map[*filePos]*chainFile, len(c.files))
				for _, cf := range c.files {
					open[cf.fp] = cf
				}
				f.reportUndelivered(c.pos, open, c.with())
				f.stopChain(c, "it is gone before its metadata was known")
				continue
			}
			c.gone = true
			f.endChain(c, now)
		}
		f.dropGroupIfDone(gr)
		return
	}
	gr.gone = false
	want := make(map[string]bool, len(g.Targets))
	for i := range g.Targets {
		want[g.Targets[i].Key] = true
	}
	for key, c := range gr.chains {
		if !want[key] {
			f.stopChain(c, "it is no longer selected")
		}
	}
	for key := range gr.targets {
		if !want[key] {
			delete(f.groupOf, key)
		}
	}
	gr.targets = want
	if !g.Terminal {
		clear(gr.released)
	}
	gr.terminal = g.Terminal
	for i := range g.Targets {
		t := &g.Targets[i]
		f.groupOf[t.Key] = gr
		if g.Terminal && gr.released[t.Key] {
			continue
		}
		c := gr.chains[t.Key]
		if c == nil {
			c = f.newChain(gr, t, now)
		} else {
			f.updateTarget(c, t, now)
		}
		c.terminal, c.gone = g.Terminal, false
		if g.Terminal {
			f.endChain(c, now)
		} else if !c.onlyFileDeleted() {
			if !c.endAt.IsZero() && !c.numbered() {
				f.log.Debug(f.o.Words.File+" is back", c.with()...)
			}
			c.endAt = time.Time{}
		}
		c.poll.Next = now
		dirty[c.t.Dir] = struct{}{}
	}
	f.dropGroupIfDone(gr)
}

// dropGroupIfDone forgets a group that has nothing left to follow.
func (f *Follower) dropGroupIfDone(gr *group) {
	if len(gr.chains) > 0 || !gr.gone && len(gr.targets) > 0 {
		return
	}
	for key := range gr.targets {
		if f.groupOf[key] == gr {
			delete(f.groupOf, key)
		}
	}
	delete(f.groups, gr.key)
}

// newChain starts following a target. A position kept for it (from the
// checkpoint, or from an earlier time it was followed) is where it resumes.
func (f *Follower) newChain(gr *group, t *discovery.Target, now time.Time) *chain {
	c := &chain{
		key: t.Key, t: *t, label: t.Path(), attrs: attrsOf(t),
		meta: t.Meta, ready: t.Meta != nil,
		lastGrowth: now, poll: pollAt(now), ignoredSize: -1,
	}
	c.behind = f.m.BytesBehind(c.label)
	f.mu.Lock()
	c.pos = f.positions[t.Key]
	delete(f.positions, t.Key)
	if c.pos == nil {
		c.pos = &position{}
	}
	f.chains[t.Key] = c
	f.mu.Unlock()
	gr.chains[t.Key] = c
	f.order = append(f.order, c)
	f.byDir[t.Dir] = append(f.byDir[t.Dir], c)
	if t.Scheme != discovery.Numbered && t.Scheme != discovery.Logrotate && t.Scheme != discovery.Kubernetes {
		f.log.Warn("this follower does not read files of the "+t.Scheme.String()+" scheme yet", c.with()...)
	}
	if c.numbered() || c.kube() {
		// (A Logrotate file is logged when it is opened.)
		f.log.Debug("following "+f.o.Words.Target, c.with("metadata", t.Meta != nil)...)
	}
	return c
}

// updateTarget applies a changed target to its chain: new metadata, and a
// Logrotate file's new path (renamed within what the discoverer watches).
func (f *Follower) updateTarget(c *chain, t *discovery.Target, now time.Time) {
	if t.Meta != nil && (!sameMeta(c.meta, t.Meta) || !c.ready) {
		f.setMeta(c, t.Meta)
	}
	old := c.t.Path()
	if t.Path() != old && c.t.Scheme == discovery.Logrotate {
		f.moveChain(c, t, now)
	}
	meta := c.meta
	c.t = *t
	c.t.Meta = meta
	c.attrs = attrsOf(t)
}

// moveChain follows a Logrotate file to its new path.
func (f *Follower) moveChain(c *chain, t *discovery.Target, now time.Time) {
	old, p := c.t.Path(), t.Path()
	f.removeFromDir(c)
	f.byDir[t.Dir] = append(f.byDir[t.Dir], c)
	for _, cf := range c.files {
		if f.byPath[cf.r.Path()] == c {
			delete(f.byPath, cf.r.Path())
		}
		cf.r.SetPath(p, c.meta)
		f.byPath[p] = c
	}
	f.mu.Lock()
	c.pos.path = p
	f.mu.Unlock()
	f.m.ForgetFile(old)
	c.label = p
	c.behind = f.m.BytesBehind(p)
	c.poll.Next = now
	f.flusher.Mark()
	f.log.Info(f.o.Words.File+" renamed; following it", "from", old, "to", p)
}

// setMeta gives the chain its metadata (for the events read from now on)
// and makes it ready to read.
func (f *Follower) setMeta(c *chain, meta *event.Meta) {
	c.meta, c.ready = meta, true
	for _, cf := range c.files {
		cf.r.SetPath(cf.r.Path(), meta)
	}
	c.poll.Next = time.Time{}
}

// sameMeta reports whether two metadata values are equal: a discoverer
// may build the same metadata twice (a lookup and a watch), and the chain
// keeps the value its events already share.
func sameMeta(a, b *event.Meta) bool {
	return a == b || a != nil && b != nil && a.Source == b.Source && bytes.Equal(a.JSONMembers(), b.JSONMembers())
}

// endChain records that no more writes are expected in the chain.
func (f *Follower) endChain(c *chain, now time.Time) {
	if c.endAt.IsZero() {
		c.endAt = now
	}
	c.poll.Next = now
}

// stopChain stops following a target without reading further: its files
// are closed and its position kept, so that it resumes there if it is
// followed again.
func (f *Follower) stopChain(c *chain, why string) {
	f.closeFiles(c)
	f.forget(c, time.Now(), true)
	f.log.Info("stopped following "+f.o.Words.Target+": "+why, c.with()...)
}

// forget removes a chain whose files are closed, keeping its position when
// keep is set.
func (f *Follower) forget(c *chain, now time.Time, keep bool) {
	c.closed = true
	f.mu.Lock()
	if f.chains[c.key] == c {
		delete(f.chains, c.key)
	}
	kept := false
	if _, _, _, ok := c.pos.current(); ok && keep {
		c.pos.lastSeen = now
		f.positions[c.key] = c.pos
		kept = true
	}
	f.mu.Unlock()
	if kept {
		f.noteReleased(c) // for the status page
	}
	if gr := f.groupOf[c.key]; gr != nil && gr.chains[c.key] == c {
		delete(gr.chains, c.key)
		f.dropGroupIfDone(gr)
	}
	f.removeFromDir(c)
	for _, cf := range c.files {
		if f.byPath[cf.r.Path()] == c {
			delete(f.byPath, cf.r.Path())
		}
	}
	f.m.ForgetFile(c.label)
	f.flusher.Mark()
}

// removeFromDir takes the chain off the list of its directory.
func (f *Follower) removeFromDir(c *chain) {
	cs := f.byDir[c.t.Dir]
	for i, x := range cs {
		if x == c {
			cs = append(cs[:i], cs[i+1:]...)
			break
		}
	}
	if len(cs) == 0 {
		delete(f.byDir, c.t.Dir)
	} else {
		f.byDir[c.t.Dir] = cs
	}
}

// closeFiles closes the chain's open files. Their Progress keeps taking
// acknowledgements.
func (f *Follower) closeFiles(c *chain) []error {
	var errs []error
	for _, cf := range c.files {
		if f.byPath[cf.r.Path()] == c {
			delete(f.byPath, cf.r.Path())
		}
		if err := cf.slot.Close(); err != nil {
			errs = append(errs, err)
			f.log.Warn("closing "+f.o.Words.File, "file", cf.r.Path(), "error", err)
		}
	}
	c.files = nil
	return errs
}

// reportStates counts the chains by state for OnStates.
func (f *Follower) reportStates() {
	if f.o.OnStates == nil {
		return
	}
	var s States
	for _, c := range f.order {
		switch {
		case c.closed:
		case !c.ready:
			s.Waiting++
		case !c.endAt.IsZero():
			s.Finishing++
		default:
			s.Reading++
		}
	}
	f.o.OnStates(s)
}
