package journald

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/source/journald/journaltest"
)

func TestReadsEntriesAndFields(t *testing.T) {
	j := journaltest.New(t)
	long := strings.Repeat("x", 300)
	binaryMsg := []byte("bin\x00ary \xff\nsecond line")
	j.Append(
		journaltest.Msg(base, "started nomad", "_SYSTEMD_UNIT=nomad.service", "PRIORITY=6", "SYSLOG_IDENTIFIER=nomad", "_PID=42", "_HOSTNAME=node-7"),
		journaltest.Entry{Realtime: base.Add(time.Second), Fields: []journaltest.Field{
			{Name: "MESSAGE", Value: binaryMsg},
			{Name: "TAG", Value: []byte("a")}, {Name: "TAG", Value: []byte("b")},
			{Name: "BLOB", Value: []byte{1, 2, 3}},
		}},
		journaltest.Msg(base.Add(2*time.Second), long, "PRIORITY=3"),
		journaltest.Msg(base.Add(3*time.Second), "debug noise", "PRIORITY=7"),
		journaltest.Entry{Realtime: base.Add(4 * time.Second), Fields: []journaltest.Field{{Name: "CODE_FILE", Value: []byte("x.c")}}},
	)
	cfg := testConfig(j)
	cfg.MaxMessageBytes = 100
	cfg.ExcludeMatches = map[string][]string{"PRIORITY": {"7"}}
	h := start(t, t.TempDir(), cfg, nil)
	h.waitCount(4)
	waitUntil(t, "the cursor of the last entry saved", func() bool { return h.saved().Realtime == base.Add(4*time.Second).UnixMicro() })
	evs := h.sink.all()
	if len(evs) != 4 {
		t.Fatalf("got %d events, want 4 (one excluded): %+v", len(evs), evs)
	}
	first := evs[0]
	if first.message != "started nomad" || !first.ts.Equal(base) || first.host != "node-7" {
		t.Errorf("first event %+v", first)
	}
	for k, want := range map[string]string{"_systemd_unit": "nomad.service", "priority": "6", "syslog_identifier": "nomad", "_pid": "42"} {
		if first.fields[k] != want {
			t.Errorf("journald.%s = %q, want %q (fields %v)", k, first.fields[k], want, first.fields)
		}
	}
	if len(first.fields["_boot_id"]) != 32 {
		t.Errorf("journald._boot_id = %q", first.fields["_boot_id"])
	}
	for _, k := range []string{"message", "_hostname", "__cursor", "__realtime_timestamp", "__monotonic_timestamp"} {
		if _, ok := first.fields[k]; ok {
			t.Errorf("journald.%s should not be among the fields", k)
		}
	}
	second := evs[1]
	if second.message != string(binaryMsg) || second.host != "drover-host" {
		t.Errorf("binary message %q host %q", second.message, second.host)
	}
	if second.fields["tag"] != `["a","b"]` || second.fields["blob"] != "\x01\x02\x03" {
		t.Errorf("multi-valued and binary fields: %q", second.fields)
	}
	third := evs[2]
	if third.message != long[:100] || third.flags&event.Truncated == 0 {
		t.Errorf("long message not truncated to 100 bytes with the flag: %d bytes, flags %v", len(third.message), third.flags)
	}
	if evs[3].message != "" || evs[3].fields["code_file"] != "x.c" {
		t.Errorf("entry without MESSAGE: %+v", evs[3])
	}
	if h.discarded("excluded") != 1 {
		t.Errorf("excluded = %d, want 1", h.discarded("excluded"))
	}
	if n := testutilCount(h, "received"); n != 5 {
		t.Errorf("received events = %d, want 5", n)
	}
}

func testutilCount(h *harness, which string) int {
	switch which {
	case "received":
		return int(counter(h.m.ReceivedEvents))
	case "sent":
		return int(counter(h.m.SentEvents))
	}
	panic(which)
}

func TestFieldNamesOriginal(t *testing.T) {
	j := journaltest.New(t)
	j.Append(journaltest.Msg(base, "m", "_SYSTEMD_UNIT=docker.service"))
	cfg := testConfig(j)
	cfg.FieldNames = FieldNamesOriginal
	h := start(t, t.TempDir(), cfg, nil)
	h.waitCount(1)
	if got := h.sink.all()[0].fields["_SYSTEMD_UNIT"]; got != "docker.service" {
		t.Errorf("journald._SYSTEMD_UNIT = %q", got)
	}
}

func TestFollowsEntriesWrittenWhileRunning(t *testing.T) {
	j := journaltest.New(t)
	j.Append(entries("live", 0, 5)...)
	h := start(t, t.TempDir(), testConfig(j), nil)
	h.waitCount(5)
	j.Append(entries("live", 5, 5)...)
	h.waitCount(10)
	// A second journal file appears, as after a rotation.
	j.AppendFile("rotated.journal", entries("live", 10, 5)...)
	h.waitCount(15)
	if got, want := h.sink.messages(), names("live", 0, 15); !equal(got, want) {
		t.Fatalf("messages\n%v\nwant\n%v", got, want)
	}
}

func TestRestartResumesAfterTheCursor(t *testing.T) {
	j := journaltest.New(t)
	data := t.TempDir()
	j.Append(entries("r", 0, 10)...)
	h := start(t, data, testConfig(j), nil)
	h.waitCount(10)
	h.stop()
	saved := h.saved()
	if saved.Realtime != base.Add(9*time.Second).UnixMicro() || !strings.HasPrefix(saved.Cursor, "s=") {
		t.Fatalf("saved position %+v", saved)
	}

	j.Append(entries("r", 10, 5)...)
	h2 := start(t, data, testConfig(j), nil)
	h2.waitCount(5)
	waitUntil(t, "the new cursor saved", func() bool { return h2.saved().Realtime == base.Add(14*time.Second).UnixMicro() })
	if got, want := h2.sink.messages(), names("r", 10, 15); !equal(got, want) {
		t.Fatalf("after the restart got %v, want %v", got, want)
	}
	if h2.errors("cursor") != 0 {
		t.Errorf("a valid cursor was reported invalid:\n%s", h2.logs.String())
	}
}

func TestRestartWithNewSelectionKeepsTheNextEntry(t *testing.T) {
	// The entry of the cursor is not selected any more: --after-cursor
	// would skip the first selected entry after it.
	j := journaltest.New(t)
	data := t.TempDir()
	j.Append(journaltest.Msg(base, "a-0", "_SYSTEMD_UNIT=a.service"), journaltest.Msg(base.Add(time.Second), "b-1", "_SYSTEMD_UNIT=b.service"))
	cfg := testConfig(j)
	cfg.Units = []string{"a"}
	h := start(t, data, cfg, nil)
	h.waitCount(1)
	waitUntil(t, "the cursor saved", func() bool { return h.saved().Cursor != "" })
	h.stop()

	j.Append(journaltest.Msg(base.Add(2*time.Second), "b-2", "_SYSTEMD_UNIT=b.service"))
	cfg = testConfig(j)
	cfg.Units = []string{"b"}
	h2 := start(t, data, cfg, nil)
	h2.waitCount(2)
	if got := h2.sink.messages(); !equal(got, []string{"b-1", "b-2"}) {
		t.Fatalf("got %v, want [b-1 b-2]", got)
	}
}

func TestUnacknowledgedEntriesAreReadAgain(t *testing.T) {
	j := journaltest.New(t)
	data := t.TempDir()
	j.Append(entries("u", 0, 3)...)
	sk := &sink{}
	h := start(t, data, testConfig(j), sk)
	h.waitCount(3)
	waitUntil(t, "the cursor saved", func() bool { return h.saved().Cursor != "" })
	sk.mu.Lock()
	sk.hold = true
	sk.mu.Unlock()
	j.Append(entries("u", 3, 4)...)
	h.waitCount(7)
	h.stop() // Close gives up waiting: the held batches stay unacknowledged
	if got := h.saved().Realtime; got != base.Add(2*time.Second).UnixMicro() {
		t.Fatalf("saved realtime %d moved past unacknowledged entries", got)
	}
	sk.releaseHeld() // too late: the source was closed

	h2 := start(t, data, testConfig(j), nil)
	h2.waitCount(4)
	if got, want := h2.sink.messages(), names("u", 3, 7); !equal(got, want) {
		t.Fatalf("after the restart got %v, want %v", got, want)
	}
}

func TestFailedBatchIsReadAgain(t *testing.T) {
	j := journaltest.New(t)
	j.Append(entries("f", 0, 5)...)
	sk := &sink{failNext: 1}
	h := start(t, t.TempDir(), testConfig(j), sk)
	waitUntil(t, "the failed batch read again", func() bool {
		msgs := sk.messages()
		return len(msgs) >= 2 && msgs[len(msgs)-1] == "f-0004" && strings.Count(strings.Join(msgs, " "), "f-0000") == 2
	})
	waitUntil(t, "the last cursor saved", func() bool { return h.saved().Realtime == base.Add(4*time.Second).UnixMicro() })
	if !strings.Contains(h.logs.String(), "reading the journal again") {
		t.Errorf("the rewind was not logged:\n%s", h.logs.String())
	}
}

func TestInvalidCursor(t *testing.T) {
	cases := []struct {
		policy string
		want   []string
	}{
		// The cursor's file is gone; the last delivered entry was at 4s:
		// entries from 4s on are read (two of the remaining file, 4s and 5s).
		{InvalidCursorLastTimestamp, []string{"new-0004", "new-0005", "live-0010"}},
		{InvalidCursorOldest, []string{"new-0000", "new-0001", "new-0002", "new-0003", "new-0004", "new-0005", "live-0010"}},
		{InvalidCursorNow, nil}, // only live entries: checked below
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			j := journaltest.New(t)
			data := t.TempDir()
			j.AppendFile("old.journal", entries("old", 0, 5)...)
			cfg := testConfig(j)
			cfg.OnInvalidCursor = tc.policy
			h := start(t, data, cfg, nil)
			h.waitCount(5)
			waitUntil(t, "the cursor saved", func() bool { return h.saved().Realtime == base.Add(4*time.Second).UnixMicro() })
			h.stop()

			// Vacuumed: the file holding the cursor is gone; another file
			// holds entries from 0s to 5s.
			j.Remove("old.journal")
			j.AppendFile("new.journal", entries("new", 0, 6)...)
			h2 := start(t, data, cfg, nil)
			waitUntil(t, "the invalid cursor reported", func() bool { return h2.errors("cursor") == 1 })
			if tc.policy != InvalidCursorNow {
				h2.waitCount(len(tc.want) - 1)
				j.AppendFile("new.journal", journaltest.Msg(base.Add(10*time.Second), "live-0010"))
				h2.waitCount(len(tc.want))
				if got := h2.sink.messages(); !equal(got, tc.want) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			} else {
				// "now" follows from the journal's tail as journalctl
				// finds it, which it may reach a moment after it
				// started: entries appended until one arrives are all
				// new, and none of the older ones may be read.
				waitUntil(t, "journalctl following", func() bool { return strings.Contains(h2.logs.String(), "journalctl started") })
				live := 10
				waitUntil(t, "a live entry", func() bool {
					if h2.sink.count() > 0 {
						return true
					}
					j.AppendFile("new.journal", journaltest.Msg(base.Add(time.Duration(live)*time.Second), fmt.Sprintf("live-%04d", live)))
					live++
					time.Sleep(50 * time.Millisecond)
					return false
				})
				for _, m := range h2.sink.messages() {
					if !strings.HasPrefix(m, "live-") {
						t.Fatalf("on_invalid_cursor = now read an old entry: %v", h2.sink.messages())
					}
				}
			}
			if !strings.Contains(h2.logs.String(), "no longer holds its entry") {
				t.Errorf("the reason was not logged:\n%s", h2.logs.String())
			}
		})
	}
}

func TestCursorRejectedByJournalctl(t *testing.T) {
	j := journaltest.New(t)
	data := t.TempDir()
	j.Append(entries("g", 0, 3)...)
	cfg := testConfig(j)
	cfg.OnInvalidCursor = InvalidCursorOldest
	f := checkpoint.File{Path: checkpoint.PathFor(data, SourceType, "host"), Version: stateVersion}
	if err := f.Save(state{position{Cursor: "not-a-cursor"}}); err != nil {
		t.Fatal(err)
	}
	h := start(t, data, cfg, nil)
	h.waitCount(3)
	if got := h.sink.messages(); !equal(got, names("g", 0, 3)) {
		t.Fatalf("got %v", got)
	}
	if h.errors("cursor") != 1 || !strings.Contains(h.logs.String(), "journalctl rejects it") {
		t.Errorf("cursor errors %d; logs:\n%s", h.errors("cursor"), h.logs.String())
	}
}

func TestSinceNow(t *testing.T) {
	j := journaltest.New(t)
	j.Append(entries("before", 0, 3)...)
	cfg := testConfig(j)
	cfg.SinceNow = true
	h := start(t, t.TempDir(), cfg, nil)
	waitUntil(t, "journalctl following", func() bool { return strings.Contains(h.logs.String(), "journalctl started") })
	// journalctl may take a moment to reach the end; entries appended
	// until one arrives are all new.
	waitUntil(t, "a new entry", func() bool {
		if h.sink.count() > 0 {
			return true
		}
		j.Append(entries("after", 10, 1)...)
		time.Sleep(50 * time.Millisecond)
		return false
	})
	for _, m := range h.sink.messages() {
		if strings.HasPrefix(m, "before") {
			t.Fatalf("since_now read an old entry: %v", h.sink.messages())
		}
	}
}

func TestSelection(t *testing.T) {
	j := journaltest.New(t)
	j.Append(
		journaltest.Msg(base, "nomad-1", "_SYSTEMD_UNIT=nomad.service", "PRIORITY=6"),
		journaltest.Msg(base.Add(time.Second), "cron-1", "_SYSTEMD_UNIT=cron.service"),
		journaltest.Msg(base.Add(2*time.Second), "kernel-1", "_TRANSPORT=kernel"),
		journaltest.Msg(base.Add(3*time.Second), "consul-1", "_SYSTEMD_UNIT=consul.service"),
		journaltest.Msg(base.Add(4*time.Second), "nomad-debug", "_SYSTEMD_UNIT=nomad.service", "PRIORITY=7"),
		journaltest.Msg(base.Add(5*time.Second), "docker-1", "_SYSTEMD_UNIT=docker.service"),
	)
	cfg := testConfig(j)
	cfg.Units = []string{"nomad", "consul.service", "docker"}
	cfg.IncludeMatches = map[string][]string{"_TRANSPORT": {"kernel"}}
	cfg.ExcludeMatches = map[string][]string{"PRIORITY": {"7"}, "_SYSTEMD_UNIT": {"docker.service"}}
	h := start(t, t.TempDir(), cfg, nil)
	h.waitCount(3)
	waitUntil(t, "the last entry's cursor saved", func() bool { return h.saved().Realtime == base.Add(5*time.Second).UnixMicro() })
	if got := h.sink.messages(); !equal(got, []string{"nomad-1", "kernel-1", "consul-1"}) {
		t.Fatalf("got %v", got)
	}
	if h.discarded("excluded") != 2 {
		t.Errorf("excluded = %d, want 2", h.discarded("excluded"))
	}
}

func TestCurrentBootOnly(t *testing.T) {
	j := journaltest.New(t)
	j.Append(entries("boot1", 0, 3)...)
	j.NewBoot()
	j.Append(entries("boot2", 3, 2)...)
	for _, only := range []bool{false, true} {
		cfg := testConfig(j)
		cfg.CurrentBootOnly = only
		h := start(t, t.TempDir(), cfg, nil)
		want := append(names("boot1", 0, 3), names("boot2", 3, 5)...)
		if only {
			want = names("boot2", 3, 5)
		}
		h.waitCount(len(want))
		waitUntil(t, "the last cursor saved", func() bool { return h.saved().Realtime == base.Add(4*time.Second).UnixMicro() })
		if got := h.sink.messages(); !equal(got, want) {
			t.Errorf("current_boot_only=%v: got %v, want %v", only, got, want)
		}
		h.stop()
	}
}

func TestMissingJournalctl(t *testing.T) {
	cfg := NewConfig()
	cfg.JournalctlPath = "/nonexistent/journalctl"
	_, err := New(component.Context{ID: "x", DataDir: t.TempDir()}, cfg)
	if err == nil || !strings.Contains(err.Error(), "journalctl not found") || !strings.Contains(err.Error(), "apt-get install systemd") {
		t.Fatalf("err = %v", err)
	}
}

func TestJournalctlFailureIsRetried(t *testing.T) {
	j := journaltest.New(t)
	cfg := testConfig(j)
	cfg.JournalDirectory = filepath.Join(t.TempDir(), "not-yet")
	h := start(t, t.TempDir(), cfg, nil)
	waitUntil(t, "a failed journalctl run", func() bool { return h.errors("journalctl") >= 1 })
	if !strings.Contains(h.logs.String(), "Failed to open") {
		t.Errorf("journalctl's message was not logged:\n%s", h.logs.String())
	}
	if err := os.Rename(j.Dir, cfg.JournalDirectory); err != nil {
		t.Fatal(err)
	}
	j.Dir = cfg.JournalDirectory
	j.Append(entries("late", 0, 2)...)
	h.waitCount(2)
}

func TestJournalDirectoryEmptyAtStart(t *testing.T) {
	j := journaltest.New(t)
	h := start(t, t.TempDir(), testConfig(j), nil)
	waitUntil(t, "journalctl following", func() bool { return strings.Contains(h.logs.String(), "journalctl started") })
	j.Append(entries("first", 0, 3)...)
	h.waitCount(3)
	if h.errors("journalctl") != 0 {
		t.Errorf("journalctl failed on an empty directory:\n%s", h.logs.String())
	}
}
