package health

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// StreakConfig configures a Streak.
type StreakConfig struct {
	// Logger receives the streak's log lines; nil discards them.
	Logger *slog.Logger
	// Health is the component's Reporter; nil reports nowhere.
	Health *Reporter
	// Condition names the condition held on Health while a run of
	// failures lasts; "" holds none.
	Condition string
	// State is the condition's state while a run lasts; OK (the zero
	// value) means Failing.
	State State
	// Level is the level of a run's first failure, of a failure that
	// differs from the previous one, and of reminders; nil means warn.
	Level slog.Leveler
	// Remind is how often a run that lasts is logged again at Level, with
	// how long it has lasted and what it concerned; 0 never.
	Remind time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// DefaultRemind is how often a lasting run of failures is logged again
// unless a component has a reason to choose otherwise.
const DefaultRemind = 5 * time.Minute

// Streak follows a run of consecutive failures of one kind (a sink's
// sends, a source's connection to its API), so that a failing dependency
// is logged once, not once per attempt:
//
//   - the first failure of a run, and a failure whose message or reason
//     differs from the previous one, are logged at the configured level;
//     other repeats at debug level;
//   - while the run lasts, a reminder every Remind;
//   - End logs the recovery once, with the run's counts.
//
// While a run lasts, its condition is held on the component's Reporter
// with the last failure's reason and error. A Streak is safe for concurrent
// use; with several requests in flight, one run spans the failures of all
// of them.
type Streak struct {
	cfg StreakConfig

	mu       sync.Mutex
	failures int
	events   int
	since    time.Time
	lastLog  time.Time
	lastMsg  string
	lastWhy  string
}

// NewStreak returns a Streak without a run.
func NewStreak(cfg StreakConfig) *Streak {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.State == OK {
		cfg.State = Failing
	}
	if cfg.Level == nil {
		cfg.Level = slog.LevelWarn
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Streak{cfg: cfg}
}

// Summary describes a run of failures.
type Summary struct {
	// Failures is how many failures the run had.
	Failures int
	// Events is the sum of the events the failures concerned.
	Events int
	// Duration is the time since the run's first failure.
	Duration time.Duration
}

// Fail records a failure that concerned n events (0 when it concerned no
// events) and reports whether it started a run. msg is the log message,
// reason the condition's short cause ("unauthorized", "unreachable"), err
// the error; attrs are added to the log line.
func (s *Streak) Fail(msg, reason string, err error, n int, attrs ...any) (first bool) {
	now := s.cfg.Now()
	s.mu.Lock()
	first = s.failures == 0
	if first {
		s.since = now
	}
	s.failures++
	s.events += n
	changed := !first && (msg != s.lastMsg || reason != s.lastWhy)
	remind := !first && !changed && s.cfg.Remind > 0 && now.Sub(s.lastLog) >= s.cfg.Remind
	sum := Summary{Failures: s.failures, Events: s.events, Duration: now.Sub(s.since)}
	if first || changed || remind {
		s.lastLog = now
	}
	s.lastMsg, s.lastWhy = msg, reason
	s.mu.Unlock()

	text := msg
	if err != nil {
		text = msg + ": " + err.Error()
	}
	if s.cfg.Condition != "" {
		s.cfg.Health.Set(s.cfg.Condition, s.cfg.State, reason, text)
	}

	log := s.cfg.Logger
	ctx := context.Background()
	switch {
	case first || changed:
		if err != nil {
			attrs = append(attrs, "error", err)
		}
		if reason != "" {
			attrs = append(attrs, "reason", reason)
		}
		if changed {
			attrs = append(attrs, "failures", sum.Failures, "since", sum.Duration.Round(time.Millisecond))
		}
		log.Log(ctx, s.cfg.Level.Level(), msg, attrs...)
	case remind:
		attrs = append(attrs, "error", err, "reason", reason, "failures", sum.Failures, "events", sum.Events,
			"since", sum.Duration.Round(time.Second))
		log.Log(ctx, s.cfg.Level.Level(), "still failing: "+msg, attrs...)
	default:
		if log.Enabled(ctx, slog.LevelDebug) {
			attrs = append(attrs, "error", err, "failures", sum.Failures)
			log.Debug(msg, attrs...)
		}
	}
	return first
}

// End ends the current run. When there was one, it logs msg at info level
// with the run's failures, events (when any) and duration, clears the
// condition and returns the run's summary with ok true.
func (s *Streak) End(msg string, attrs ...any) (sum Summary, ok bool) {
	s.mu.Lock()
	if s.failures == 0 {
		s.mu.Unlock()
		return Summary{}, false
	}
	sum = Summary{Failures: s.failures, Events: s.events, Duration: s.cfg.Now().Sub(s.since)}
	s.failures, s.events, s.lastMsg, s.lastWhy = 0, 0, "", ""
	s.mu.Unlock()
	if s.cfg.Condition != "" {
		s.cfg.Health.Clear(s.cfg.Condition)
	}
	attrs = append(attrs, "failures", sum.Failures)
	if sum.Events > 0 {
		attrs = append(attrs, "events", sum.Events)
	}
	attrs = append(attrs, "after", sum.Duration.Round(time.Millisecond))
	s.cfg.Logger.Info(msg, attrs...)
	return sum, true
}

// Failures returns the number of failures of the current run (0: none).
func (s *Streak) Failures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failures
}
