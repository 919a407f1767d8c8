package journald

import (
	"errors"
	"log/slog"
)

// failureLog logs a run of journalctl failures once: the first failure of
// a run, and any failure that differs from the previous one, at error
// level; repeats at debug level. Every failure is counted in
// component_errors_total{stage="journalctl"}.
type failureLog struct {
	n    int
	last string
}

// report counts and logs a failed journalctl run; read says whether it
// read entries before it failed, which starts a new run of failures.
func (l *failureLog) report(s *Source, err error, read bool) {
	if read {
		l.n, l.last = 0, ""
	}
	if err == nil {
		err = errors.New("journalctl ended")
	}
	s.m.Errors("journalctl").Inc()
	msg := err.Error()
	l.n++
	attrs := []any{slog.Int("attempt", l.n), slog.String("error", msg), slog.String("journalctl", s.path)}
	if l.n == 1 || msg != l.last {
		s.log.Error("reading the journal failed; starting journalctl again after a pause", attrs...)
	} else {
		s.log.Debug("reading the journal failed again", attrs...)
	}
	l.last = msg
}
