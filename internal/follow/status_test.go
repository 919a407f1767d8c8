package follow

import (
	"testing"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/status"
)

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
