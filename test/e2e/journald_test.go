package e2e

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/source/journald/journaltest"
)

// journaldToHTTP is a configuration that reads the journal files of dir
// into the receiver.
func journaldToHTTP(dataDir, journalDir, uri string) string {
	return fmt.Sprintf(`
data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }
log { level = "debug" }

source "journald" "journal" {
  journal_directory   = %q
  exclude_matches     = { PRIORITY = ["7"] }
  checkpoint_interval = "200ms"
}

sink "http" "out" {
  inputs   = ["journal"]
  uri      = %q
  encoding = "ndjson"
  batch {
    max_events = 300
    timeout    = "50ms"
  }
  request {
    retry_initial_backoff = "50ms"
    retry_max_backoff     = "500ms"
  }
}
`, dataDir, journalDir, uri)
}

// journalEntries returns entries jrn-NNNNNNN for from <= N < to, every
// tenth a debug entry (PRIORITY=7, excluded by the configuration).
func journalEntries(from, to int) (entries []journaltest.Entry, shipped []string) {
	base := time.Now().Add(-time.Hour)
	for i := from; i < to; i++ {
		msg := fmt.Sprintf("jrn-%07d", i)
		prio := "6"
		if i%10 == 9 {
			prio = "7"
		} else {
			shipped = append(shipped, msg)
		}
		entries = append(entries, journaltest.Msg(base.Add(time.Duration(i)*time.Millisecond), msg,
			"_SYSTEMD_UNIT=nomad.service", "PRIORITY="+prio, "_HOSTNAME=client-7", "_PID=4242"))
	}
	return entries, shipped
}

// journalctlsOf returns the pids of journalctl processes reading dir.
func journalctlsOf(dir string) []string {
	var pids []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if strings.HasSuffix(args[0], "journalctl") && strings.Contains(string(b), "--directory="+dir) {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}

// TestJournaldCrashSafety runs drover on a journal directory written by
// systemd-journal-remote while entries keep arriving (in two journal files,
// as after a rotation), kills it with SIGKILL several times and restarts it,
// and checks that every entry that is not excluded arrived, with its
// fields, that no excluded or unknown entry arrived, that no journalctl
// outlived a killed drover, and that a clean restart resumes without
// duplicates.
func TestJournaldCrashSafety(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("DROVER_E2E_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (rerun with DROVER_E2E_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewSource(seed))

	jrn := journaltest.New(t)
	base := t.TempDir()
	recv := newReceiver(t)
	cfg := writeConfig(t, base, journaldToHTTP(filepath.Join(base, "data"), jrn.Dir, recv.url()))

	const total, chunk = 12000, 200
	first, want := journalEntries(0, 2000)
	jrn.Append(first...)

	d := startDrover(t, cfg)
	written := make(chan []string, 1)
	go func() {
		var shipped []string
		for i := 2000; i < total; i += chunk {
			e, s := journalEntries(i, i+chunk)
			file := journaltest.DefaultFile
			if i >= total/2 {
				file = "rotated.journal"
			}
			if err := jrn.Write(file, e...); err != nil {
				t.Error(err)
				break
			}
			shipped = append(shipped, s...)
			time.Sleep(25 * time.Millisecond)
		}
		written <- shipped
	}()
	// Kill while the journal grows, and at least three times in all.
	kills := 0
	var rest []string
	for running := true; running || kills < 3; {
		var done <-chan []string
		if running {
			done = written
		}
		select {
		case rest = <-done:
			running = false
		case <-time.After(time.Duration(500+rng.Intn(1000)) * time.Millisecond):
			d.kill()
			kills++
			waitUntil(t, 10*time.Second, "journalctl to end with the killed drover", func() bool { return len(journalctlsOf(jrn.Dir)) == 0 })
			d = startDrover(t, cfg)
		}
	}
	want = append(want, rest...)
	waitUntil(t, 60*time.Second, "every entry to arrive", func() bool { return recv.hasAll(want) })
	// Every entry arrived, but the drover started after the last kill may
	// still be reading again what it had not acknowledged; a marker
	// written last arrives once it has read everything before it.
	marker, markerShipped := journalEntries(total+200, total+201)
	jrn.Append(marker...)
	waitUntil(t, 30*time.Second, "the marker written after the kills", func() bool { return recv.hasAll(markerShipped) })
	want = append(want, markerShipped...)

	// A clean stop and restart ships what was written meanwhile, once.
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d after SIGTERM", code)
	}
	before := recv.received()
	last, lastShipped := journalEntries(total, total+100)
	jrn.Append(last...)
	d = startDrover(t, cfg)
	waitUntil(t, 30*time.Second, "the entries written while drover was stopped", func() bool { return recv.hasAll(lastShipped) })
	want = append(want, lastShipped...)
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d after SIGTERM", code)
	}
	if got := recv.received() - before; got != len(lastShipped) {
		t.Errorf("after a clean restart %d events arrived, want %d", got, len(lastShipped))
	}

	counts, records := recv.snapshot()
	shipped := map[string]bool{}
	for _, m := range want {
		shipped[m] = true
	}
	dups := 0
	for msg, n := range counts {
		if !shipped[msg] {
			t.Errorf("received %q, which was not written or is excluded", msg)
		}
		dups += n - 1
	}
	for _, rec := range records[:10] {
		j, _ := rec["journald"].(map[string]any)
		if rec.str("host") != "client-7" || rec.str("source_type") != "journald" || j["_systemd_unit"] != "nomad.service" ||
			j["priority"] != "6" || j["_pid"] != "4242" {
			t.Errorf("record %v", rec)
		}
	}
	t.Logf("journald crash safety: %d entries shipped, %d received, %d duplicates after %d SIGKILLs",
		len(want), len(records), dups, kills)
}
