package chaos

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// eventLog is the suite's own log (events.log in the work directory): the
// allocations' lifecycle, drover's starts and ends, the faults, with
// times, to read beside drover's logs when a run fails.
type eventLog struct {
	mu sync.Mutex
	f  *os.File
}

func newEventLog(path string) (*eventLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating the event log: %w", err)
	}
	return &eventLog{f: f}, nil
}

// logf writes one line; safe for concurrent use, and after close.
func (l *eventLog) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	fmt.Fprintf(l.f, "%s %s\n", time.Now().UTC().Format("15:04:05.000000"), fmt.Sprintf(format, args...))
}

func (l *eventLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
