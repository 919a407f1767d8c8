package file

import (
	"context"
	"errors"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/tail"
)

// unpark handles a parked file (closed by max_open_files at its end while
// idle) when it is due: it stays parked while its path shows it unchanged,
// and is reopened by identity when it changed, moved, disappeared from
// the patterns or has bytes to read again (rewound). open reports that
// service goes on with it; replaced, that its content was replaced while
// it was parked (read it from the beginning). A file that cannot be found
// again is closed: what was written to it after it was parked is lost,
// counted in drover_files_vanished_total.
func (s *Source) unpark(ctx context.Context, out component.Emitter, t *tracked, now time.Time) (open, replaced bool, err error) {
	changed, moved, cerr := t.r.CheckParked(t.path)
	if cerr != nil {
		s.readFailed(t, cerr)
		s.schedule(t, now, false)
		return false, false, nil
	}
	if !changed && !moved && !t.wake && t.goneAt.IsZero() {
		s.schedule(t, now, false)
		return false, false, nil
	}
	t.wake = false
	rerr := t.slot.Reopen(t.path)
	if rerr == nil || errors.Is(rerr, tail.ErrReplaced) {
		t.writtenParked = false
	}
	switch {
	case errors.Is(rerr, tail.ErrVanished):
		if changed || t.writtenParked {
			s.losses.Add(tail.LostWrittenWhileParked, 1)
			s.log.Warn("file closed by max_open_files was written and then deleted before drover could open it again; the lines written since it was closed are lost (raise max_open_files)",
				"file", t.path, "offset", t.r.Offset())
		} else {
			s.log.Debug("file closed by max_open_files is gone; nothing was seen written to it since it was closed", "file", t.path)
		}
		t.deleted = true
		return false, false, s.closeFile(ctx, out, t, now)
	case errors.Is(rerr, tail.ErrReplaced):
		return true, true, nil
	case rerr != nil:
		s.readFailed(t, rerr)
		s.schedule(t, now, false)
		return false, false, nil
	}
	if t.r.Path() != t.path {
		s.log.Debug("file closed by max_open_files was renamed; reopened it", "from", t.path, "to", t.r.Path())
	}
	return true, false, nil
}
