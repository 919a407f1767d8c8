package follow

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/status"
)

// scanInterval is the world's: how old the follower's clock may be.
const scanInterval = 50 * time.Millisecond

func targetOf(ts []status.Target, key string) (status.Target, bool) {
	for _, t := range ts {
		if t.Key == key {
			return t, true
		}
	}
	return status.Target{}, false
}

// Targets shows each target's state and positions as the run loop sees
// them: read and not acknowledged while the sink holds the batch, shipped
// once it lets go, with the time its acknowledged position moved.
func TestTargetsShowPositionsAndAcknowledgement(t *testing.T) {
	w := newWorld(t)
	w.write(0, "one\ntwo\n")
	w.start()
	if ts := w.f.Targets(); len(ts) != 0 {
		t.Fatalf("targets before the first group: %+v", ts)
	}
	w.out.setBlocked(true)
	w.disc.Send(discovery.Group{Key: "g", Targets: []discovery.Target{w.target()}})
	waitFor(t, "the lines read and held by the sink", func() bool {
		tg, ok := targetOf(w.f.Targets(), "g/t")
		return ok && tg.ReadOffset == 8 && tg.Unacknowledged
	})
	tg, _ := targetOf(w.f.Targets(), "g/t")
	if tg.State != status.StateFollowing || tg.Kind != status.TargetNomadStream || tg.Acknowledged != 0 ||
		tg.Labels["stream"] != "t" || tg.LastRead.IsZero() || tg.Shipped() {
		t.Fatalf("target while the sink holds its batch: %+v", tg)
	}
	w.out.setBlocked(false)
	waitFor(t, "the lines acknowledged", func() bool {
		tg, _ := targetOf(w.f.Targets(), "g/t")
		return tg.Acknowledged == 8 && tg.Shipped() && !tg.LastAcknowledged.IsZero()
	})
	w.write(0, "three\n")
	waitFor(t, "the new line shipped", func() bool {
		tg, _ := targetOf(w.f.Targets(), "g/t")
		return tg.Acknowledged == 14 && tg.Shipped()
	})
}

// A target whose metadata is not known yet is shown waiting for it, and
// not shipped.
func TestTargetsShowTargetsWaitingForMetadata(t *testing.T) {
	w := newWorld(t)
	w.write(0, "held\n")
	w.start()
	tgt := w.target()
	tgt.Meta = nil
	w.disc.Send(discovery.Group{Key: "g", Targets: []discovery.Target{tgt}})
	waitFor(t, "the target waiting for its metadata", func() bool {
		tg, ok := targetOf(w.f.Targets(), "g/t")
		return ok && tg.State == status.StateWaitingMetadata && !tg.Shipped()
	})
}

// The time of the last acknowledgement is kept from the start, before
// anyone asks: the first Targets call shows when the lines were
// acknowledged, not when it was asked; it stays while nothing moves, and
// opening a file at its saved offset is no acknowledgement.
func TestLastAcknowledgedIsExactBeforeAnyRequest(t *testing.T) {
	w := newWorld(t)
	w.write(0, "one\ntwo\n")
	w.start()
	w.out.setBlocked(true)
	w.disc.Send(discovery.Group{Key: "g", Targets: []discovery.Target{w.target()}})
	waitFor(t, "the batch held by the sink", func() bool { return w.f.inflight.Count() > 0 })
	before := time.Now()
	w.out.setBlocked(false)
	waitFor(t, "the position saved", func() bool {
		p, ok := w.store.position("g/t")
		return ok && p.Offset == 8
	})
	after := time.Now()
	tg, ok := targetOf(w.f.Targets(), "g/t")
	if !ok || tg.Acknowledged != 8 {
		t.Fatalf("target: %+v", tg)
	}
	// The time is the follower's clock, at most a scan interval old.
	if earliest := before.Add(-scanInterval); tg.LastAcknowledged.Before(earliest) || tg.LastAcknowledged.After(after) {
		t.Fatalf("last acknowledged %v, want between %v and %v", tg.LastAcknowledged, earliest, after)
	}
	first := tg.LastAcknowledged
	// Nothing moves: a later look shows the same time.
	if tg, _ := targetOf(w.f.Targets(), "g/t"); !tg.LastAcknowledged.Equal(first) {
		t.Fatalf("last acknowledged moved from %v to %v without an acknowledgement", first, tg.LastAcknowledged)
	}
}

// After a restart, a file opened at its saved position shows no
// acknowledgement until a line of it is acknowledged.
func TestLastAcknowledgedNotSetByOpening(t *testing.T) {
	w := newWorld(t)
	w.write(0, "one\n")
	w.start()
	w.disc.Send(discovery.Group{Key: "g", Targets: []discovery.Target{w.target()}})
	waitFor(t, "the position saved", func() bool {
		p, ok := w.store.position("g/t")
		return ok && p.Offset == 4
	})
	w.stop()
	w.stop = nil
	w.start()
	w.disc.Send(discovery.Group{Key: "g", Targets: []discovery.Target{w.target()}})
	waitFor(t, "the target followed again", func() bool {
		tg, ok := targetOf(w.f.Targets(), "g/t")
		return ok && tg.ReadOffset == 4 && tg.Acknowledged == 4
	})
	if tg, _ := targetOf(w.f.Targets(), "g/t"); !tg.LastAcknowledged.IsZero() {
		t.Fatalf("target opened at its saved position shows an acknowledgement: %+v", tg)
	}
	before := time.Now()
	w.write(0, "two\n")
	waitFor(t, "the new line acknowledged", func() bool {
		tg, _ := targetOf(w.f.Targets(), "g/t")
		return tg.Acknowledged == 8 && !tg.LastAcknowledged.Before(before.Add(-scanInterval))
	})
}

// A terminal target is shown draining while what is left is read, then
// released, and shipped once its last lines are acknowledged: a finished
// allocation's streams stay in the status (explain can say they were
// shipped) until their position is forgotten.
func TestTargetsShowDrainingThenReleased(t *testing.T) {
	w := newWorld(t)
	w.write(0, "one\n")
	w.start()
	w.disc.Send(discovery.Group{Key: "g", Targets: []discovery.Target{w.target()}})
	waitFor(t, "the first line", func() bool { return w.out.n("one") == 1 })
	w.out.setBlocked(true)
	w.write(0, strings.Repeat("more\n", 100000)) // more than the queue of batches holds
	w.disc.Send(discovery.Group{Key: "g", Terminal: true, Targets: []discovery.Target{w.target()}})
	waitFor(t, "the target draining", func() bool {
		tg, ok := targetOf(w.f.Targets(), "g/t")
		return ok && tg.State == status.StateDraining && tg.BytesBehind > 0 && !tg.Shipped()
	})
	w.out.setBlocked(false)
	waitFor(t, "the target released and shipped", func() bool {
		tg, ok := targetOf(w.f.Targets(), "g/t")
		return ok && tg.State == status.StateReleased && tg.Shipped() && tg.Acknowledged == int64(len("one\n")+len("more\n")*100000) &&
			tg.Labels["stream"] == "t" && tg.Path == filepath.Join(w.dir, "t.0")
	})
	// Followed again (named by a new group), it is one target, following.
	w.write(1, "again\n")
	w.disc.Send(discovery.Group{Key: "g", Targets: []discovery.Target{w.target()}})
	waitFor(t, "the target followed again", func() bool {
		n := 0
		for _, tg := range w.f.Targets() {
			if tg.Key == "g/t" {
				n++
			}
		}
		tg, _ := targetOf(w.f.Targets(), "g/t")
		return n == 1 && tg.State != status.StateReleased
	})
}
