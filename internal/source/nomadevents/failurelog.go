package nomadevents

import (
	"errors"
	"fmt"
)

// reportFailure counts and logs a failed connection; the run of failures
// (s.failures) is logged once, with a reminder while it lasts, and holds
// the source's "api" condition failing.
func (s *Source) reportFailure(err error) {
	stage, reason, msg := s.describe(err)
	s.m.Errors(stage).Inc()
	s.failures.Fail(msg, reason, nil, 0, "index", s.resume.Index)
}

// connected ends a run of failures.
func (s *Source) connected() {
	s.failures.End("event stream connected again", "index", s.resume.Index)
}

// describe returns the metric stage, the health reason and the log message
// of a failure.
func (s *Source) describe(err error) (stage, reason, msg string) {
	var (
		se  *StatusError
		end *endError
		st  *startError
	)
	switch {
	case errors.As(err, &st):
		return "connect", "start_failed", fmt.Sprintf("cannot start the event stream: %v", err)
	case errors.As(err, &se) && se.permissionDenied():
		return "connect", "forbidden", fmt.Sprintf("Nomad refused the event stream (%v): the ACL token (nomad.token or NOMAD_TOKEN) is missing, unknown or lacks what the topics need: %s",
			se, requiredCapabilities(s.topics, s.cfg.Namespace))
	case errors.As(err, &se):
		return "connect", "request_failed", fmt.Sprintf("event stream request failed: %v", se)
	case errors.Is(err, errHeartbeatTimeout):
		return "heartbeat", "silent", fmt.Sprintf("event stream silent for %s: %v", s.cfg.HeartbeatTimeout, err)
	case errors.As(err, &end):
		return "stream", "stream_ended", fmt.Sprintf("event stream ended: %v", end)
	}
	return "connect", "unreachable", fmt.Sprintf("cannot reach Nomad: %v", err)
}
