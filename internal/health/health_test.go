package health

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a manual time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestReporterWorstConditionAndSince(t *testing.T) {
	c := newClock()
	r := NewReporter("sink", "http", "out", c.now)
	if r.State() != OK || len(r.Conditions()) != 0 {
		t.Fatal("a new reporter must be OK without conditions")
	}
	r.Set("rejections", Degraded, "mapping_error", "1 event refused")
	start := c.now()
	c.advance(time.Second)
	r.Set("delivery", Failing, "unreachable", "dial tcp: refused")
	if r.State() != Failing {
		t.Fatalf("state = %v, want failing (the worst condition)", r.State())
	}
	conds := r.Conditions()
	if len(conds) != 2 || conds[0].Name != "delivery" || conds[1].Name != "rejections" {
		t.Fatalf("conditions not sorted by name: %+v", conds)
	}
	if !conds[1].Since.Equal(start) {
		t.Fatalf("rejections since %v, want %v", conds[1].Since, start)
	}

	// Same state and reason: Since stays, Message and Updated move.
	failingSince := c.now()
	c.advance(time.Minute)
	r.Set("delivery", Failing, "unreachable", "dial tcp: timeout")
	d := r.Conditions()[0]
	if !d.Since.Equal(failingSince) || d.Message != "dial tcp: timeout" || !d.Updated.Equal(c.now()) {
		t.Fatalf("repeat of the same condition: %+v", d)
	}
	// Another reason restarts Since.
	c.advance(time.Minute)
	r.Set("delivery", Failing, "unauthorized", "401")
	if d := r.Conditions()[0]; !d.Since.Equal(c.now()) || d.Reason != "unauthorized" {
		t.Fatalf("a new reason must restart since: %+v", d)
	}
	// ... but not StateSince: it is still failing since the first report.
	if d := r.Conditions()[0]; !d.StateSince.Equal(failingSince) {
		t.Fatalf("state_since %v, want %v (a new reason is not a new state)", d.StateSince, failingSince)
	}
	c.advance(time.Minute)
	r.Set("delivery", Degraded, "unauthorized", "401")
	if d := r.Conditions()[0]; !d.StateSince.Equal(c.now()) {
		t.Fatalf("a new state must restart state_since: %+v", d)
	}
	r.Set("delivery", Failing, "unauthorized", "401")

	r.Clear("delivery")
	if r.State() != Degraded {
		t.Fatalf("after clearing delivery: %v, want degraded", r.State())
	}
	r.Set("rejections", OK, "", "")
	if r.State() != OK || len(r.Conditions()) != 0 {
		t.Fatalf("after clearing all: %v %+v", r.State(), r.Conditions())
	}
}

func TestNilReporterIsOK(t *testing.T) {
	var r *Reporter
	r.Set("delivery", Failing, "x", "y")
	r.Clear("delivery")
	if r.State() != OK || r.Conditions() != nil {
		t.Fatal("a nil reporter must read as OK")
	}
}

func TestRegistryReplacesOnRegister(t *testing.T) {
	c := newClock()
	g := NewRegistry(c.now)
	old := g.Register("sink", "http", "out")
	old.Set("delivery", Failing, "unauthorized", "401")
	g.Register("source", "file", "app")
	if snap := g.Snapshot(); len(snap) != 2 || snap[0].Kind != "sink" || snap[0].State != Failing || snap[1].ID != "app" {
		t.Fatalf("snapshot: %+v", snap)
	}
	// A rebuilt sink starts clean; its predecessor's reports no longer show.
	fresh := g.Register("sink", "http", "out")
	old.Set("delivery", Failing, "unauthorized", "401 again")
	if g.Lookup("sink", "out") != fresh || fresh.State() != OK {
		t.Fatal("Register must replace the reporter of the same component")
	}
	g.Remove("sink", "out")
	if g.Lookup("sink", "out") != nil || len(g.Snapshot()) != 1 {
		t.Fatal("Remove must forget the component")
	}
	js, err := json.Marshal(g.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"state":"ok"`) || !strings.Contains(string(js), `"conditions":[]`) {
		t.Fatalf("JSON: %s", js)
	}
}

// logLines returns the records written to buf as level+message lines.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	buf.Reset()
	return out
}

func TestStreakLogsOnceRemindsAndRecovers(t *testing.T) {
	c := newClock()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rep := NewReporter("sink", "http", "out", c.now)
	s := NewStreak(StreakConfig{Logger: log, Health: rep, Condition: "delivery", Remind: 5 * time.Minute, Now: c.now})
	boom := errors.New("401 Unauthorized")

	if !s.Fail("sending failed", "unauthorized", boom, 10, "destination", "http://x") {
		t.Fatal("the first failure must start a run")
	}
	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["msg"] != "sending failed" ||
		lines[0]["reason"] != "unauthorized" || lines[0]["destination"] != "http://x" {
		t.Fatalf("first failure log: %+v", lines)
	}
	if conds := rep.Conditions(); len(conds) != 1 || conds[0].State != Failing || conds[0].Reason != "unauthorized" ||
		conds[0].Message != "sending failed: 401 Unauthorized" {
		t.Fatalf("condition: %+v", conds)
	}

	// Repeats within the reminder period: debug only (not shown at info).
	for range 3 {
		c.advance(time.Minute)
		if s.Fail("sending failed", "unauthorized", boom, 10) {
			t.Fatal("a repeat must not start a run")
		}
	}
	if lines := logLines(t, &buf); len(lines) != 0 {
		t.Fatalf("repeats logged at info or above: %+v", lines)
	}
	// Past the reminder period: one reminder with the counts.
	c.advance(2 * time.Minute)
	s.Fail("sending failed", "unauthorized", boom, 10, "backlog_events", 5000)
	lines = logLines(t, &buf)
	if len(lines) != 1 || lines[0]["msg"] != "still failing: sending failed" || lines[0]["failures"] != float64(5) ||
		lines[0]["events"] != float64(50) || lines[0]["backlog_events"] != float64(5000) {
		t.Fatalf("reminder: %+v", lines)
	}
	// Another reason: logged at once.
	c.advance(time.Second)
	s.Fail("sending failed", "unreachable", errors.New("connection refused"), 10)
	lines = logLines(t, &buf)
	if len(lines) != 1 || lines[0]["reason"] != "unreachable" {
		t.Fatalf("changed reason: %+v", lines)
	}
	if s.Failures() != 6 {
		t.Fatalf("failures = %d", s.Failures())
	}

	c.advance(time.Second)
	sum, ok := s.End("sending works again")
	if !ok || sum.Failures != 6 || sum.Events != 60 || sum.Duration != 5*time.Minute+2*time.Second {
		t.Fatalf("summary: %+v %v", sum, ok)
	}
	lines = logLines(t, &buf)
	if len(lines) != 1 || lines[0]["level"] != "INFO" || lines[0]["failures"] != float64(6) {
		t.Fatalf("recovery log: %+v", lines)
	}
	if rep.State() != OK {
		t.Fatal("the condition must clear when the run ends")
	}
	if _, ok := s.End("again"); ok || buf.Len() != 0 {
		t.Fatal("End without a run must do nothing")
	}
	// A new run logs its first failure again.
	if !s.Fail("sending failed", "unauthorized", boom, 1) {
		t.Fatal("a failure after End must start a new run")
	}
}

func TestStreakWithoutConditionOrReporter(t *testing.T) {
	s := NewStreak(StreakConfig{State: Degraded})
	s.Fail("x", "y", nil, 0)
	if _, ok := s.End("ok"); !ok {
		t.Fatal("End after a failure must report the run")
	}
	rep := NewReporter("source", "file", "f", nil)
	s = NewStreak(StreakConfig{Health: rep})
	s.Fail("x", "y", nil, 0)
	if len(rep.Conditions()) != 0 {
		t.Fatal("a streak without a condition name must not set one")
	}
	s = NewStreak(StreakConfig{Health: rep, Condition: "rejections", State: Degraded})
	s.Fail("refused", "mapping", nil, 2)
	if rep.State() != Degraded {
		t.Fatalf("state %v, want degraded", rep.State())
	}
}

func TestStreakConcurrent(t *testing.T) {
	rep := NewReporter("sink", "http", "out", nil)
	s := NewStreak(StreakConfig{Health: rep, Condition: "delivery"})
	var wg sync.WaitGroup
	var firsts sync.Map
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				if s.Fail("f", "r", nil, 1) {
					firsts.Store(i, true)
				}
			}
		})
	}
	wg.Wait()
	n := 0
	firsts.Range(func(any, any) bool { n++; return true })
	if n != 1 || s.Failures() != 800 {
		t.Fatalf("firsts=%d failures=%d", n, s.Failures())
	}
	if sum, _ := s.End("ok"); sum.Events != 800 {
		t.Fatalf("events %d", sum.Events)
	}
}
