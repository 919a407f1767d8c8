package journald

import (
	"errors"
	"time"
)

// healthyAfter is how long journalctl must run, or that it delivers an
// entry, before a run of failures counts as over.
const healthyAfter = 10 * time.Second

// reportFailure counts and logs a failed journalctl run; the run of
// failures (s.failures) is logged once, with a reminder while it lasts, and
// holds the source's "read" condition failing.
func (s *Source) reportFailure(err error) {
	if err == nil {
		err = errors.New("journalctl ended")
	}
	s.m.Errors("journalctl").Inc()
	s.failures.Fail("reading the journal failed; starting journalctl again after a pause", "journalctl_failed", err, 0,
		"journalctl", s.path)
}

// readingWorks ends a run of failures: journalctl delivered an entry or ran
// for healthyAfter.
func (s *Source) readingWorks() {
	s.failures.End("reading the journal works again", "journalctl", s.path)
}
