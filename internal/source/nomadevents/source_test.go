package nomadevents

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/nomadtest/eventstream"
)

// A clean run replays the whole captured history, interleaved with
// heartbeats, and delivers every event exactly once and in order.
func TestCleanRunDeliversEveryEventOnce(t *testing.T) {
	srv := eventstream.New(eventstream.Options{Heartbeat: 5 * time.Millisecond})
	defer srv.Close()
	history := eventstream.History()
	want := identities(history)
	h := start(t, srv, t.TempDir(), testConfig(srv), nil)
	// Publish while streaming, so that heartbeats fall between frames.
	for _, it := range history {
		srv.Publish(it)
		if it.Index%10 == 0 {
			beats := srv.Heartbeats()
			waitUntil(t, "a heartbeat", func() bool { return srv.Heartbeats() > beats })
		}
	}
	waitUntil(t, "every event", func() bool { return h.sink.count() >= len(want) })
	h.stop()
	if got := h.sink.ids(false); !slices.Equal(got, want) {
		t.Fatalf("delivered %d events, want %d in order", len(got), len(want))
	}
	if reqs := streamIndexes(srv); !slices.Equal(reqs, []uint64{0}) {
		t.Fatalf("stream requests at indexes %v, want one at 0", reqs)
	}
	st, found := h.savedCursor()
	last := history[len(history)-1]
	if !found || st.Index != last.Index || !st.Exact || len(st.Seen) != len(last.Events) {
		t.Fatalf("saved cursor %+v, want index %d with its %d events", st, last.Index, len(last.Events))
	}
	if n := h.discarded("duplicate"); n != 0 {
		t.Fatalf("%d duplicates dropped in a clean run", n)
	}
	// Messages are the events exactly as Nomad sent them.
	raw := eventstream.Events(history)
	for i, g := range h.sink.all() {
		if string(g.message) != string(raw[i].Raw) {
			t.Fatalf("event %d message differs", i)
		}
	}
}

// Streams cut in the middle of a line resume at the last index (inclusive):
// the repeated events of that index are dropped, the ones not delivered yet
// are not, even when one index spans several lines (12, 17, 25, 29, 34, 42).
func TestCutStreamsResumeInclusive(t *testing.T) {
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	history := eventstream.History()
	srv.Publish(history...)
	// Lines 8 9 10 12 | 12 12 13 14 15 16 17 | 17 | 17 17 18 ... 24 25 |
	// 25 ...: every cut falls between two lines of the same index, and
	// each connection starts by repeating the index it resumes at.
	srv.CutNextAfter(4)
	srv.CutNextAfter(7)
	srv.CutNextAfter(1)
	srv.CutNextAfter(10)
	want := identities(history)
	h := start(t, srv, t.TempDir(), testConfig(srv), nil)
	waitUntil(t, "every event", func() bool { return h.sink.count() >= len(want) })
	h.stop()
	if got := h.sink.ids(false); !slices.Equal(got, want) {
		t.Fatalf("delivered %d events:\n%v\nwant %d:\n%v", len(got), got, len(want), want)
	}
	reqs := streamIndexes(srv)
	if !slices.Equal(reqs, []uint64{0, 12, 17, 17, 25}) {
		t.Fatalf("stream requests at %v, want resumes at 0, 12, 17, 17, 25", reqs)
	}
	if h.discarded("duplicate") == 0 || h.errors("stream") != 4 {
		t.Fatalf("duplicates dropped %d, stream errors %d", h.discarded("duplicate"), h.errors("stream"))
	}
	if h.errors("gap") != 0 || h.errors("index_regression") != 0 {
		t.Fatal("a cut stream was reported as a gap or regression")
	}
	if n := h.logs.count("stream cut in the middle of a line"); n == 0 {
		t.Fatalf("cut not logged:\n%s", h.logs.String())
	}
}

// A restarted source resumes at its saved cursor and delivers nothing twice.
func TestRestartResumesFromTheSavedCursor(t *testing.T) {
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	history := eventstream.History()
	first, second := history[:30], history[30:]
	srv.Publish(first...)
	dir := t.TempDir()
	h1 := start(t, srv, dir, testConfig(srv), nil)
	waitUntil(t, "the first part", func() bool { return h1.sink.count() >= len(identities(first)) })
	h1.stop()
	srv.Publish(second...)
	h2 := start(t, srv, dir, testConfig(srv), nil)
	waitUntil(t, "the second part", func() bool { return h2.sink.count() >= len(identities(second)) })
	h2.stop()
	got := append(h1.sink.ids(false), h2.sink.ids(false)...)
	if !slices.Equal(got, identities(history)) {
		t.Fatalf("delivered %v", got)
	}
	reqs := streamIndexes(srv)
	if last := first[len(first)-1].Index; reqs[len(reqs)-1] != last {
		t.Fatalf("restart requested index %d, want %d", reqs[len(reqs)-1], last)
	}
	if h2.errors("gap") != 0 {
		t.Fatal("gap reported on a clean restart")
	}
}

// The cursor moves only over acknowledged batches, as a contiguous prefix.
func TestCursorFollowsAcknowledgements(t *testing.T) {
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	items := eventstream.History()[:6] // indexes 8 9 10 12 12 13
	srv.Publish(items...)
	sk := &sink{hold: true}
	h := start(t, srv, t.TempDir(), testConfig(srv), sk)
	waitUntil(t, "six batches", func() bool { return sk.count() == len(identities(items)) })
	if _, found := h.savedCursor(); found {
		t.Fatal("cursor saved before any acknowledgement")
	}
	// Acknowledge batches 2-4 (indexes 9, 10, 12): nothing moves.
	sk.releaseHeld(func(i int) bool { return i >= 1 && i <= 3 })
	h.src.flusher.Mark()
	if err := h.src.flusher.Flush(); err != nil {
		t.Fatal(err)
	}
	if st, found := h.savedCursor(); found && st.Index != 0 {
		t.Fatalf("cursor %+v moved past the unacknowledged first batch", st)
	}
	// Acknowledge the first: the prefix reaches the first line of index 12.
	sk.releaseHeld(func(i int) bool { return i == 0 })
	waitUntil(t, "the cursor at 12", func() bool {
		st, found := h.savedCursor()
		return found && st.Index == 12 && len(st.Seen) == 1
	})
	sk.releaseHeld(func(int) bool { return true })
	waitUntil(t, "the cursor at 13", func() bool { st, _ := h.savedCursor(); return st.Index == 13 })
}

// A resumed stream that starts after the saved (exact) cursor means Nomad
// no longer holds it: the gap is counted and logged, and with resync the
// current state follows as synthetic Snapshot events before the stream's
// events.
func TestAgedOutCursorReportsGapAndResyncs(t *testing.T) {
	for _, resync := range []bool{false, true} {
		t.Run(map[bool]string{false: "report", true: "resync"}[resync], func(t *testing.T) {
			srv := eventstream.New(eventstream.Options{BufferSize: 10})
			defer srv.Close()
			history := eventstream.History()
			srv.Publish(history...)
			for _, name := range []string{"allocations-all-ns", "jobs-all-ns", "nodes"} {
				l, err := eventstream.LoadList(name)
				if err != nil {
					t.Fatal(err)
				}
				srv.SetList("/v1/"+strings.TrimSuffix(name, "-all-ns"), l)
			}
			srv.SetList("/v1/deployments", eventstream.List{Body: []byte("[]"), Index: 40})
			dir := t.TempDir()
			cfg := testConfig(srv)
			cfg.Resync = resync
			// A cursor at index 20 from an earlier run.
			writeCursor(t, dir, cfg, Cursor{Index: 20, Seen: []uint64{1}, Exact: true})
			h := start(t, srv, dir, cfg, nil)
			want := identities(history[len(history)-10:])
			waitUntil(t, "the buffered events", func() bool { return len(h.sink.ids(false)) >= len(want) })
			h.stop()
			if got := h.sink.ids(false); !slices.Equal(got, want) {
				t.Fatalf("delivered %v, want %v", got, want)
			}
			if h.errors("gap") != 1 || h.logs.count("events may have been missed") != 1 {
				t.Fatalf("gap errors %d; logs:\n%s", h.errors("gap"), h.logs.String())
			}
			snap := h.sink.ids(true)
			if !resync {
				if len(snap) != 0 {
					t.Fatalf("snapshot without resync: %v", snap)
				}
				return
			}
			// 3 allocations, 3 jobs, 1 node, no deployment; all before the
			// stream's events.
			if len(snap) != 7 {
				t.Fatalf("snapshot events %v", snap)
			}
			all := h.sink.all()
			for i := 0; i < 7; i++ {
				if !all[i].synthetic || all[i].typ != "Snapshot" {
					t.Fatalf("event %d is %+v, want the snapshot first", i, all[i])
				}
			}
			topics := map[string]int{}
			for _, id := range snap {
				topics[strings.Split(id, "/")[1]]++
			}
			if topics["Allocation"] != 3 || topics["Job"] != 3 || topics["Node"] != 1 {
				t.Fatalf("snapshot topics %v", topics)
			}
		})
	}
}

func writeCursor(t *testing.T, dir string, cfg *Config, c Cursor) {
	t.Helper()
	f := checkpoint.File{Path: checkpoint.PathFor(dir, SourceType, "cluster"), Version: stateVersion}
	if err := f.Save(state{Cursor: c, Subscription: subscriptionKey(cfg.Topics, cfg.Namespace)}); err != nil {
		t.Fatal(err)
	}
}

// A -dev agent restart resets Nomad's index: the source sees streams start
// below its cursor, retries for regression_grace (the agent might be
// rebuilding its buffer), then resets its cursor and reads the new history
// from its oldest event.
func TestIndexRegressionResetsTheCursor(t *testing.T) {
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	history := eventstream.History()
	srv.Publish(history...)
	cfg := testConfig(srv)
	cfg.RegressionGrace = 200 * time.Millisecond
	h := start(t, srv, t.TempDir(), cfg, nil)
	waitUntil(t, "the history", func() bool { return h.sink.count() >= len(identities(history)) })
	dev := eventstream.MustLoad(eventstream.CaptureDevRestart)
	srv.Restart(dev)
	want := append(identities(history), identities(dev)...)
	waitUntil(t, "the new history", func() bool { return h.sink.count() >= len(want) })
	waitUntil(t, "the reset cursor saved", func() bool { st, _ := h.savedCursor(); return st.Index == 10 && st.Exact })
	h.stop()
	if got := h.sink.ids(false); !slices.Equal(got, want) {
		t.Fatalf("delivered %v", got[len(history):])
	}
	reqs := streamIndexes(srv)
	last := history[len(history)-1].Index
	if n := len(reqs); n < 4 || reqs[n-1] != 0 || reqs[n-2] != last || reqs[n-3] != last {
		t.Fatalf("requests %v, want retries at %d, then a restart at 0", reqs, last)
	}
	if h.errors("index_regression") != 1 || h.logs.count("index went backwards") != 1 ||
		h.logs.count("may be rebuilding its event buffer") != 1 {
		t.Fatalf("regressions %d", h.errors("index_regression"))
	}
}

// An agent that restarted with its data dir rebuilds its buffer from the
// Raft log: a stream opened meanwhile starts with old indexes. That is not
// a regression: the source retries until the agent holds its cursor again
// and goes on without duplicates.
func TestRestartedAgentRebuildingItsBuffer(t *testing.T) {
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	session := eventstream.MustLoad(eventstream.CaptureSession)
	srv.Publish(session...)
	h := start(t, srv, t.TempDir(), testConfig(srv), nil)
	waitUntil(t, "the session", func() bool { return h.sink.count() >= len(identities(session)) })
	// The agent is back with an empty buffer; drover connects to it.
	srv.Restart(nil)
	waitUntil(t, "a connection to the restarted agent", func() bool { return srv.OpenStreams() == 1 && len(srv.StreamRequests()) >= 2 })
	// The Raft log replay publishes the old events again, then new ones.
	rebuilt := eventstream.MustLoad(eventstream.CaptureAfterRestart)
	srv.Publish(rebuilt...)
	waitUntil(t, "the new events", func() bool { return h.sink.count() >= len(identities(rebuilt)) })
	h.stop()
	if got := h.sink.ids(false); !slices.Equal(got, identities(rebuilt)) {
		t.Fatalf("delivered %v", got)
	}
	if h.errors("index_regression") != 0 || h.errors("gap") != 0 {
		t.Fatalf("regressions %d, gaps %d", h.errors("index_regression"), h.errors("gap"))
	}
	if h.logs.count("may be rebuilding its event buffer") != 1 {
		t.Fatalf("logs:\n%s", h.logs.String())
	}
}

// After a restart of an agent with a persistent data dir the buffer is
// rebuilt from the Raft log (same indexes, rebuilt payloads): nothing is
// delivered twice and no gap is reported.
func TestPersistentAgentRestart(t *testing.T) {
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	session := eventstream.MustLoad(eventstream.CaptureSession)
	srv.Publish(session...)
	h := start(t, srv, t.TempDir(), testConfig(srv), nil)
	waitUntil(t, "the session", func() bool { return h.sink.count() >= len(identities(session)) })
	rebuilt := eventstream.MustLoad(eventstream.CaptureAfterRestart)
	srv.Restart(rebuilt)
	waitUntil(t, "the events after the restart", func() bool { return h.sink.count() >= len(identities(rebuilt)) })
	h.stop()
	if got := h.sink.ids(false); !slices.Equal(got, identities(rebuilt)) {
		t.Fatalf("delivered %v", got)
	}
	if h.errors("gap")+h.errors("index_regression") != 0 {
		t.Fatal("an agent restart was reported as a gap or regression")
	}
}

// The across-restart capture, replayed with its real timing (sped up): the
// stream is cut as the agent stopped, and the agent comes back with its
// rebuilt buffer.
func TestAcrossRestartCapture(t *testing.T) {
	lines, note, err := eventstream.LoadTimedCapture(eventstream.Fixture(eventstream.CaptureAcrossRestart))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(note, "exit=18") {
		t.Fatalf("note %q", note)
	}
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	dir := t.TempDir()
	cfg := testConfig(srv)
	cfg.StartAt = "index:40"
	h := start(t, srv, dir, cfg, nil)
	var sent []eventstream.Item
	for i, l := range lines {
		if i > 0 {
			time.Sleep(lines[i].At.Sub(lines[i-1].At) / 100)
		}
		item, ok, err := eventstream.ParseLine(l.Line)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			srv.Publish(item)
			sent = append(sent, item)
		}
	}
	waitUntil(t, "the captured events", func() bool { return h.sink.count() >= len(identities(sent)) })
	srv.Restart(eventstream.MustLoad(eventstream.CaptureAfterRestart))
	after := eventstream.MustLoad(eventstream.CaptureAfterRestartIndex40)
	waitUntil(t, "the events after the restart", func() bool { return h.sink.count() >= len(identities(after)) })
	h.stop()
	if got := h.sink.ids(false); !slices.Equal(got, identities(after)) {
		t.Fatalf("delivered %v\nwant %v", got, identities(after))
	}
}

// Silence longer than heartbeat_timeout ends the connection; heartbeats
// keep it, and so does backpressure (time spent in Emit does not count).
func TestHeartbeatTimeout(t *testing.T) {
	srv := eventstream.New(eventstream.Options{Heartbeat: 20 * time.Millisecond})
	defer srv.Close()
	cfg := testConfig(srv)
	// Generous against heartbeats every 20ms, so that a loaded machine
	// does not starve them.
	cfg.HeartbeatTimeout = 500 * time.Millisecond
	sk := &sink{block: make(chan struct{})}
	h := start(t, srv, t.TempDir(), cfg, sk)

	// Heartbeats keep the connection for several timeouts.
	beats := srv.Heartbeats()
	waitUntil(t, "75 heartbeats", func() bool { return srv.Heartbeats() >= beats+75 })
	// Backpressure: Emit blocks for several timeouts.
	srv.Publish(eventstream.History()[:3]...)
	blocked := time.Now()
	waitUntil(t, "3 timeouts of backpressure", func() bool { return time.Since(blocked) > 3*cfg.HeartbeatTimeout })
	close(sk.block)
	waitUntil(t, "the events", func() bool { return h.sink.count() >= 3 })
	if n := len(srv.StreamRequests()); n != 1 {
		t.Fatalf("%d stream requests while heartbeats flowed", n)
	}

	// Silence: the connection is given up and opened again.
	srv.Silence(true)
	waitUntil(t, "a reconnect", func() bool { return len(srv.StreamRequests()) >= 2 })
	if h.errors("heartbeat") == 0 || h.logs.count("event stream silent for 500ms") == 0 {
		t.Fatalf("heartbeat errors %d", h.errors("heartbeat"))
	}
	srv.Silence(false)
	srv.Publish(eventstream.History()[3:6]...)
	waitUntil(t, "events after the silence", func() bool { return h.sink.count() >= len(identities(eventstream.History()[:6])) })
	h.stop()
	if got := h.sink.ids(false); !slices.Equal(got, identities(eventstream.History()[:6])) {
		t.Fatalf("delivered %v", got)
	}
}

// An ACL refusal names the capabilities the topics need, is logged once
// however often the source retries, and the stream starts once the token is
// good. Nomad answers 403 for an unknown token and 500 "Permission denied"
// for a token (or no token) that lacks a capability.
func TestPermissionDenied(t *testing.T) {
	for _, tc := range []struct{ token, answer string }{
		{"unknown", "Nomad answered 403: Permission denied"},
		{"", "Nomad answered 500: Permission denied"},
	} {
		t.Run(tc.answer[len("Nomad answered "):][:3], func(t *testing.T) {
			srv := eventstream.New(eventstream.Options{})
			defer srv.Close()
			srv.RequireToken("good")
			srv.Publish(eventstream.History()[:5]...)
			cfg := testConfig(srv)
			cfg.Nomad.Token = tc.token
			t.Setenv("NOMAD_TOKEN", "")
			h := start(t, srv, t.TempDir(), cfg, nil)
			waitUntil(t, "5 refusals counted", func() bool { return h.errors("connect") >= 5 })
			logs := h.logs.String()
			for _, want := range []string{
				"Nomad refused the event stream (" + tc.answer + ")",
				`namespace \"*\" capability read-job (topics Allocation, Deployment, Evaluation, Job)`,
				`node:read (topic Node)`,
			} {
				if !strings.Contains(logs, want) {
					t.Fatalf("logs lack %q:\n%s", want, logs)
				}
			}
			if n := strings.Count(logs, "level=WARN msg=\"Nomad refused"); n != 1 {
				t.Fatalf("the refusal was logged %d times at warn level", n)
			}
			srv.RequireToken("")
			waitUntil(t, "the events", func() bool { return h.sink.count() >= len(identities(eventstream.History()[:5])) })
			waitUntil(t, "the recovery logged", func() bool { return h.logs.count("event stream connected again") == 1 })
		})
	}
}

func TestRequiredCapabilities(t *testing.T) {
	got := requiredCapabilities([]topicFilter{{"*", "*"}, {"Node", "*"}, {"Job", "web"}}, "apps")
	want := `namespace "apps" capability read-job (topics Job); node:read (topic Node); a management token (topics *)`
	if got != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
}

// 500 answers (no leader yet) are retried with backoff.
func TestServerErrorsAreRetried(t *testing.T) {
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	srv.FailNext(3, 500, "No cluster leader")
	srv.Publish(eventstream.History()[:3]...)
	h := start(t, srv, t.TempDir(), testConfig(srv), nil)
	waitUntil(t, "the events", func() bool { return h.sink.count() >= 3 })
	reqs := srv.StreamRequests()
	var statuses []int
	for _, r := range reqs {
		statuses = append(statuses, r.Status)
	}
	if !slices.Equal(statuses, []int{500, 500, 500, 200}) {
		t.Fatalf("statuses %v", statuses)
	}
	// Backoff: the pauses do not shrink below the initial step.
	for i := 1; i < len(reqs); i++ {
		if d := reqs[i].StartedAt.Sub(reqs[i-1].StartedAt); d < testConfig(srv).ReconnectInitialBackoff/2 {
			t.Fatalf("request %d only %v after the previous one", i, d)
		}
	}
	if !strings.Contains(h.logs.String(), "No cluster leader") || h.errors("connect") != 3 {
		t.Fatalf("connect errors %d", h.errors("connect"))
	}
}

// Nomad appends an error after the last line when it drops a slow
// subscriber; the source logs it and resumes at its cursor.
func TestStreamEndedByNomad(t *testing.T) {
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	history := eventstream.History()
	srv.Publish(history[:10]...)
	h := start(t, srv, t.TempDir(), testConfig(srv), nil)
	waitUntil(t, "the first events", func() bool { return h.sink.count() >= len(identities(history[:10])) })
	srv.EndWith("event dropped from buffer")
	waitUntil(t, "a reconnect", func() bool { return len(srv.StreamRequests()) == 2 })
	srv.Publish(history[10:20]...)
	waitUntil(t, "the next events", func() bool { return h.sink.count() >= len(identities(history[:20])) })
	h.stop()
	if got := h.sink.ids(false); !slices.Equal(got, identities(history[:20])) {
		t.Fatalf("delivered %v", got)
	}
	if !strings.Contains(h.logs.String(), "Nomad ended the stream: event dropped from buffer") {
		t.Fatalf("logs:\n%s", h.logs.String())
	}
}

// start_at = "now" starts after the highest index of the subscribed
// topics' lists; "index:N" at N inclusive.
func TestStartAt(t *testing.T) {
	history := eventstream.History()
	after := func(idx uint64) []eventstream.Item {
		var out []eventstream.Item
		for _, it := range history {
			if it.Index >= idx {
				out = append(out, it)
			}
		}
		return out
	}
	for _, tc := range []struct {
		startAt   string
		firstReq  uint64
		delivered []eventstream.Item
	}{
		{"now", 41, after(41)},
		{"index:52", 52, after(52)},
		{"oldest", 0, history},
	} {
		t.Run(tc.startAt, func(t *testing.T) {
			srv := eventstream.New(eventstream.Options{})
			defer srv.Close()
			srv.SetList("/v1/jobs", eventstream.List{Body: []byte("[]"), Index: 40})
			srv.SetList("/v1/allocations", eventstream.List{Body: []byte("[]"), Index: 33})
			srv.Publish(history...)
			cfg := testConfig(srv)
			cfg.StartAt = tc.startAt
			h := start(t, srv, t.TempDir(), cfg, nil)
			want := identities(tc.delivered)
			waitUntil(t, "the events", func() bool { return h.sink.count() >= len(want) })
			h.stop()
			if got := h.sink.ids(false); !slices.Equal(got, want) {
				t.Fatalf("delivered %d events, want %d", len(got), len(want))
			}
			if reqs := streamIndexes(srv); reqs[0] != tc.firstReq {
				t.Fatalf("first request at %d, want %d", reqs[0], tc.firstReq)
			}
		})
	}
}

// A batch a consumer gave up on (Failed) is read again from Nomad.
func TestFailedBatchIsReadAgain(t *testing.T) {
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	history := eventstream.History()[:12]
	srv.Publish(history...)
	sk := &sink{failNth: map[int]bool{5: true}}
	h := start(t, srv, t.TempDir(), testConfig(srv), sk)
	want := identities(history)
	waitUntil(t, "every event", func() bool {
		got := map[string]bool{}
		for _, id := range sk.ids(false) {
			got[id] = true
		}
		return len(got) == len(want)
	})
	waitUntil(t, "the rewind logged", func() bool { return h.logs.count("a batch was not delivered") == 1 })
	waitUntil(t, "the cursor at the end", func() bool {
		st, _ := h.savedCursor()
		return st.Index == history[len(history)-1].Index
	})
	h.stop()
	// Batches 1-4 once; from the fifth on everything again, after what
	// was emitted before the rewind took effect.
	before := len(identities(history[:4]))
	got := sk.ids(false)
	rest := want[before:]
	if len(got) < len(want)+1 || !slices.Equal(got[:before], want[:before]) ||
		!slices.Equal(got[len(got)-len(rest):], rest) {
		t.Fatalf("delivered %v", got)
	}
	if extra := got[before : len(got)-len(rest)]; !slices.Equal(extra, rest[:len(extra)]) {
		t.Fatalf("before the rewind: %v", extra)
	}
}

// A cursor made for other topics resumes at its index without gap
// detection.
func TestChangedTopicsDisableGapDetection(t *testing.T) {
	srv := eventstream.New(eventstream.Options{BufferSize: 10})
	defer srv.Close()
	srv.Publish(eventstream.History()...)
	dir := t.TempDir()
	cfg := testConfig(srv)
	other := *cfg
	other.Topics = []string{"Job"}
	writeCursor(t, dir, &other, Cursor{Index: 20, Seen: []uint64{1}, Exact: true})
	h := start(t, srv, dir, cfg, nil)
	waitUntil(t, "the events", func() bool { return h.sink.count() > 0 })
	h.stop()
	if h.errors("gap") != 0 || !strings.Contains(h.logs.String(), "topics or namespace changed") {
		t.Fatalf("gap errors %d", h.errors("gap"))
	}
}

// A torn cursor file falls back to its backup; without a usable backup the
// source starts as start_at says.
func TestUnusableCursorFile(t *testing.T) {
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	history := eventstream.History()
	srv.Publish(history...)
	dir := t.TempDir()
	cfg := testConfig(srv)
	path := checkpoint.PathFor(dir, SourceType, "cluster")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"version":1,"state":{"ind`), 0o640); err != nil {
		t.Fatal(err)
	}
	h := start(t, srv, dir, cfg, nil)
	waitUntil(t, "the events", func() bool { return h.sink.count() >= len(identities(history)) })
	h.stop()
	if h.errors("checkpoint") != 1 || !strings.Contains(h.logs.String(), "cursor file is unusable") {
		t.Fatalf("checkpoint errors %d", h.errors("checkpoint"))
	}
	if st, found := h.savedCursor(); !found || st.Index != history[len(history)-1].Index {
		t.Fatalf("cursor %+v not replaced", st)
	}
}

// Lines longer than max_frame_bytes are discarded and counted; the stream
// goes on.
func TestFrameTooLarge(t *testing.T) {
	srv := eventstream.New(eventstream.Options{})
	defer srv.Close()
	history := eventstream.History()[:12]
	srv.Publish(history...)
	cfg := testConfig(srv)
	cfg.MaxFrameBytes = 3000
	h := start(t, srv, t.TempDir(), cfg, nil)
	var small []string
	big := 0
	for _, it := range history {
		if len(eventstream.Line(it.Index, it.Events)) > 3000 {
			big++
			continue
		}
		small = append(small, identities([]eventstream.Item{it})...)
	}
	waitUntil(t, "the small frames", func() bool { return h.sink.count() >= len(small) })
	waitUntil(t, "the big frames counted", func() bool { return h.discarded("frame_too_large") == big })
	h.stop()
	if got := h.sink.ids(false); !slices.Equal(got, small) || big == 0 {
		t.Fatalf("delivered %v, %d big frames", got, big)
	}
	if len(srv.StreamRequests()) != 1 {
		t.Fatal("a long line ended the connection")
	}
}
