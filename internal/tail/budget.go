package tail

import (
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/metrics"
)

// Budget bounds the descriptors that one source's Readers hold open
// (max_open_files), so that following thousands of files never runs the
// process out of descriptors (EMFILE).
//
// Every open Reader of the source has a Slot. Before opening a file the
// source calls Room (Slot.Reopen does it for a parked one): when max files
// are open, the least recently active Reader that may be closed safely is
// parked (Reader.Park): the source's own test (the canPark function given
// to Track) must allow it, and the Reader must have no unread bytes as of
// its last Stat and hold no unfinished line. A parked Reader is reopened
// by identity when its file changes (see Reader.CheckParked and
// Reader.Reopen) and goes on at its offset.
//
// The trade-off: a file parked at its end that is then written and deleted
// before the source reopens it loses what was written after it was
// parked; a file with unread bytes is never parked, so what was there when
// it was parked is never lost. When every open file has unread bytes (or
// the source forbids closing them), Room reports no room: the source then
// either waits to open the new file until open ones are read to their end
// (Deferred: a file that is in no hurry) or opens it beyond the budget
// (Over: a file that may be deleted before there is room). Both are
// counted (drover_files_deferred_total, drover_files_over_budget_total)
// and logged once per spell.
//
// A Budget and its Slots belong to the one goroutine that runs the source;
// they are not safe for concurrent use.
type Budget struct {
	max      int
	open     int
	lru      list.List // of *Slot, most recently active first; open slots only
	over     bool      // in a spell of openings beyond the budget
	deferred bool      // in a spell of deferred openings
	log      *slog.Logger
	m        budgetMetrics
}

// BudgetStats are a Budget's counts since it was made, as its metrics
// count them.
type BudgetStats struct {
	Parked, Reopened, Over, Deferred, Vanished int64
}

// budgetMetrics are a Budget's instruments, labelled with the component,
// and the same counts for Stats.
type budgetMetrics struct {
	stats struct{ parked, reopened, over, deferred, vanished atomic.Int64 }

	open     prometheus.Gauge // the component's FilesOpen
	parked   prometheus.Counter
	reopened prometheus.Counter
	over     prometheus.Counter
	deferred prometheus.Counter
	vanished prometheus.Counter
}

// NewBudget returns a budget of max open files (at least 1) for the
// source whose instruments m holds: it keeps m.FilesOpen and registers
//
//	drover_files_parked_total        files closed to stay within the budget
//	drover_files_reopened_total      parked files opened again
//	drover_files_over_budget_total   files opened beyond the budget
//	drover_files_deferred_total      openings postponed for want of room
//	drover_files_vanished_total      parked files that could not be found again
func NewBudget(max int, m *metrics.Component, log *slog.Logger) (*Budget, error) {
	if max < 1 {
		max = 1
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg, labels := m.Registerer(), m.Labels()
	names := []string{"component_kind", "component_type", "component_id"}
	counter := func(name, help string) (prometheus.Counter, error) {
		v, err := metrics.RegisterOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drover", Name: name, Help: help,
		}, names))
		if err != nil {
			return nil, err
		}
		return v.With(labels), nil
	}
	parked, err1 := counter("files_parked_total", "Files closed at their end while idle to stay within max_open_files.")
	reopened, err2 := counter("files_reopened_total", "Parked files opened again to read what was written to them.")
	over, err3 := counter("files_over_budget_total", "Files opened beyond max_open_files because no open file could be closed safely (all had unread data).")
	vanished, err4 := counter("files_vanished_total", "Parked files deleted or moved away before they could be opened again; lines written to them after they were parked are lost.")
	deferred, err5 := counter("files_deferred_total", "Times opening a file was postponed because max_open_files files were open, all with unread data.")
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return nil, fmt.Errorf("registering file budget metrics: %w", err)
	}
	return &Budget{max: max, log: log, m: budgetMetrics{
		open: m.FilesOpen, parked: parked, reopened: reopened, over: over, deferred: deferred, vanished: vanished,
	}}, nil
}

// Stats returns the counts so far. Unlike the rest of the Budget, it may
// be called from any goroutine.
func (b *Budget) Stats() BudgetStats {
	st := &b.m.stats
	return BudgetStats{Parked: st.parked.Load(), Reopened: st.reopened.Load(), Over: st.over.Load(),
		Deferred: st.deferred.Load(), Vanished: st.vanished.Load()}
}

// Max is the budget.
func (b *Budget) Max() int { return b.max }

// Open is the number of files open now.
func (b *Budget) Open() int { return b.open }

// Slot is one Reader under a Budget.
type Slot struct {
	b       *Budget
	r       *Reader
	canPark func() bool
	elem    *list.Element // in b.lru while open
	closed  bool
}

// Track puts an open Reader under the budget, as the most recently active
// one. canPark (nil: always) is the source's veto: it must return false
// while closing the file could lose data that Reader.Behind cannot see
// (a file whose path may vanish before it was read to its end, a file the
// source has not started reading).
func (b *Budget) Track(r *Reader, canPark func() bool) *Slot {
	s := &Slot{b: b, r: r, canPark: canPark}
	if !r.Parked() {
		s.elem = b.lru.PushFront(s)
		b.open++
		b.m.open.Inc()
	}
	return s
}

// Room parks idle Readers, least recently active first, until one more
// file can be opened within the budget, and reports whether it can.
func (b *Budget) Room() bool {
	for b.open >= b.max {
		if !b.parkOne() {
			return false
		}
	}
	if b.over || b.deferred {
		b.over, b.deferred = false, false
		b.log.Info("back within max_open_files", "max_open_files", b.max, "open", b.open)
	}
	return true
}

// Spare reports, without parking anything, whether Room would find room:
// fewer than max files are open, or one of them may be parked. A source
// with deferred files uses it to decide when to try again.
func (b *Budget) Spare() bool {
	if b.open < b.max {
		return true
	}
	for e := b.lru.Back(); e != nil; e = e.Prev() {
		if e.Value.(*Slot).parkable() {
			return true
		}
	}
	return false
}

// MakeRoom is Room for a file that is opened whether there is room or not:
// without room, it counts the opening beyond the budget (Over).
func (b *Budget) MakeRoom() {
	if !b.Room() {
		b.Over()
	}
}

// Over records that a file is opened beyond the budget because it cannot
// wait (it may be deleted before there is room).
func (b *Budget) Over() {
	b.m.over.Inc()
	b.m.stats.over.Add(1)
	if !b.over {
		b.over = true
		b.log.Warn("max_open_files reached and no open file can be closed safely (each has unread data); opening files that cannot wait beyond it",
			"max_open_files", b.max, "open", b.open)
	}
}

// Deferred records that opening a file waits until there is room.
func (b *Budget) Deferred() {
	b.m.deferred.Inc()
	b.m.stats.deferred.Add(1)
	if !b.deferred {
		b.deferred = true
		b.log.Info("max_open_files reached and every open file has unread data; new files are opened as open ones are read to their end",
			"max_open_files", b.max, "open", b.open)
	}
}

// parkOne parks the least recently active Reader that may be parked.
func (b *Budget) parkOne() bool {
	for e := b.lru.Back(); e != nil; e = e.Prev() {
		s := e.Value.(*Slot)
		if !s.parkable() {
			continue
		}
		if err := s.r.Park(); err != nil {
			b.log.Warn("closing an idle file", "file", s.r.Path(), "error", err)
		}
		b.detach(s)
		b.m.parked.Inc()
		b.m.stats.parked.Add(1)
		return true
	}
	return false
}

func (s *Slot) parkable() bool {
	return !s.r.Parked() && s.r.Behind() == 0 && !s.r.Holding() && (s.canPark == nil || s.canPark())
}

// detach takes an open slot off the open list.
func (b *Budget) detach(s *Slot) {
	if s.elem == nil {
		return
	}
	b.lru.Remove(s.elem)
	s.elem = nil
	b.open--
	b.m.open.Dec()
}

// Touch marks the Reader as active (it read data): it is parked last.
func (s *Slot) Touch() {
	if s.elem != nil {
		s.b.lru.MoveToFront(s.elem)
	}
}

// Parked reports whether the Reader is parked.
func (s *Slot) Parked() bool { return s.r.Parked() }

// Reopen makes room (MakeRoom: a changed file cannot wait) and reopens a
// parked Reader (see Reader.Reopen), which becomes the most recently
// active. ErrVanished (counted) leaves it parked; the caller closes the
// slot. ErrReplaced leaves it open. A Reader that is not parked is left as
// it is.
func (s *Slot) Reopen(path string) error {
	if !s.r.Parked() || s.closed {
		return nil
	}
	s.b.MakeRoom()
	err := s.r.Reopen(path)
	if errors.Is(err, ErrVanished) {
		s.b.m.vanished.Inc()
		s.b.m.stats.vanished.Add(1)
		return err
	}
	if !s.r.Parked() {
		s.elem = s.b.lru.PushFront(s)
		s.b.open++
		s.b.m.open.Inc()
		s.b.m.reopened.Inc()
		s.b.m.stats.reopened.Add(1)
	}
	return err
}

// Close closes the Reader and takes it off the budget. The Progress stays
// usable.
func (s *Slot) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.b.detach(s)
	return s.r.Close()
}
