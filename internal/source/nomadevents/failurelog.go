package nomadevents

import (
	"errors"
	"fmt"
	"log/slog"
)

// failureLog logs a run of connection failures once: the first failure of
// a run, and any failure that differs from the previous one, at warn level;
// repeats at debug level; the recovery at info level. Every failure is
// counted in component_errors_total by stage.
type failureLog struct {
	n    int
	last string
}

func (l *failureLog) report(s *Source, err error) {
	stage, msg := s.describe(err)
	s.m.Errors(stage).Inc()
	l.n++
	attrs := []any{slog.Int("attempt", l.n), slog.Uint64("index", s.resume.Index)}
	if l.n == 1 || msg != l.last {
		s.log.Warn(msg, attrs...)
	} else {
		s.log.Debug(msg, attrs...)
	}
	l.last = msg
}

func (l *failureLog) connected(s *Source) {
	if l.n > 0 {
		s.log.Info("event stream connected again", "failed_attempts", l.n, "index", s.resume.Index)
	}
	l.n, l.last = 0, ""
}

// describe returns the metric stage and the log message of a failure.
func (s *Source) describe(err error) (stage, msg string) {
	var (
		se  *StatusError
		end *endError
		st  *startError
	)
	switch {
	case errors.As(err, &st):
		return "connect", fmt.Sprintf("cannot start the event stream: %v", err)
	case errors.As(err, &se) && se.permissionDenied():
		return "connect", fmt.Sprintf("Nomad refused the event stream (%v): the ACL token (nomad.token or NOMAD_TOKEN) is missing, unknown or lacks what the topics need: %s",
			se, requiredCapabilities(s.topics, s.cfg.Namespace))
	case errors.As(err, &se):
		return "connect", fmt.Sprintf("event stream request failed: %v", se)
	case errors.Is(err, errHeartbeatTimeout):
		return "heartbeat", fmt.Sprintf("event stream silent for %s: %v", s.cfg.HeartbeatTimeout, err)
	case errors.As(err, &end):
		return "stream", fmt.Sprintf("event stream ended: %v", end)
	}
	return "connect", fmt.Sprintf("cannot reach Nomad: %v", err)
}
