package journald

import (
	"time"
)

// stateVersion is the format version of the cursor file.
const stateVersion = 1

// state is what the cursor file holds, inside a checkpoint.File envelope
// at <data_dir>/checkpoints/journald-<id>.json:
//
//	{"version":1,"written_at":"…","state":{"cursor":"s=…;i=…;b=…;m=…;t=…;x=…",
//	  "realtime_usec":1700000000123456}}
//
// Cursor names the last entry every sink acknowledged (with all entries
// before it); RealtimeUsec is its __REALTIME_TIMESTAMP, where reading
// resumes when the cursor is unusable and on_invalid_cursor is
// "last_timestamp".
type state struct {
	position
}

// save writes the committed position; it is the Flusher's save function.
func (s *Source) save() error {
	return s.file.Save(state{position: s.tracker.Snapshot()})
}

// load reads the cursor file and sets where the first run starts. A
// corrupt file is logged, counted and ignored; an unreadable one is an
// error.
func (s *Source) load() error {
	var st state
	found, _, err := s.file.LoadReported(&st, s.log, s.m.Errors("checkpoint"), "reading as since_now says")
	if err != nil {
		return err
	}
	s.initial = origin{now: s.cfg.SinceNow}
	s.resume = s.initial
	if found && st.Cursor != "" {
		s.resume = origin{cursor: st.Cursor}
		s.log.Info("resuming the journal after the saved cursor", "cursor", st.Cursor)
	}
	s.tracker = newTracker(st.position, s.m.Unacknowledged, s.flusher.Mark)
	s.pub.tracker.Store(s.tracker)
	s.loaded = true
	return nil
}

// microsTime is the time of a __REALTIME_TIMESTAMP; zero for 0.
func microsTime(us int64) time.Time {
	if us <= 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
