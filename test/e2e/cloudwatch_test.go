package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/sink/cloudwatchlogs/cwltest"
	"github.com/drover-dev/drover/internal/source/journald/journaltest"
)

// TestJournaldToCloudWatch runs drover from a journal directory to a fake
// CloudWatch Logs endpoint, a stream per host: the group and the streams
// are created, throttling is retried, every entry arrives once, and a
// clean restart ships only what was written meanwhile. The
// fake checks the SigV4 headers and the service's limits.
func TestJournaldToCloudWatch(t *testing.T) {
	jrn := journaltest.New(t)
	srv := cwltest.New(t)
	cwltest.SetCredentials(t) // inherited by drover
	srv.FailNext("PutLogEvents", 3, cwltest.Throttling)

	base := t.TempDir()
	cfg := writeConfig(t, base, fmt.Sprintf(`
data_dir = %q
admin { address = "127.0.0.1:0" }
log { level = "debug" }

source "journald" "journal" {
  journal_directory = %q
}

sink "cloudwatch_logs" "aws" {
  inputs      = ["journal"]
  endpoint    = %q
  group_name  = "/e2e/journal"
  stream_name = "{{ host }}"
  encoding    = "text"
  batch {
    max_events = 500
    timeout    = "50ms"
  }
  request {
    retry_initial_backoff = "20ms"
    retry_max_backoff     = "100ms"
  }
  healthcheck { required = true }
}
`, filepath.Join(base, "data"), jrn.Dir, srv.URL))

	ts := time.Now().Add(-time.Hour)
	write := func(from, to int) map[string][]string {
		want := map[string][]string{}
		var entries []journaltest.Entry
		for i := from; i < to; i++ {
			host := fmt.Sprintf("node-%d", i%2)
			msg := fmt.Sprintf("cw-%05d", i)
			entries = append(entries, journaltest.Msg(ts.Add(time.Duration(i)*time.Millisecond), msg, "_HOSTNAME="+host))
			want[host] = append(want[host], msg)
		}
		jrn.Append(entries...)
		return want
	}
	stored := func(host string) []string {
		var out []string
		for _, e := range srv.Events("/e2e/journal", host) {
			out = append(out, e.Message)
		}
		return out
	}
	want := write(0, 3000)
	d := startDrover(t, cfg)
	waitUntil(t, 30*time.Second, "the first entries in CloudWatch", func() bool {
		return len(stored("node-0")) == len(want["node-0"]) && len(stored("node-1")) == len(want["node-1"])
	})
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}
	more := write(3000, 3400)
	d = startDrover(t, cfg)
	for h, msgs := range more {
		want[h] = append(want[h], msgs...)
	}
	waitUntil(t, 30*time.Second, "the entries written while drover was stopped", func() bool {
		return len(stored("node-0")) >= len(want["node-0"]) && len(stored("node-1")) >= len(want["node-1"])
	})
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}
	// Each request is in time order (the fake refuses others); requests to
	// one stream may land in any order, as CloudWatch Logs allows.
	for h, w := range want {
		got := stored(h)
		slices.Sort(got)
		if !slices.Equal(got, w) {
			t.Errorf("stream %s: %d events, want each of %d once", h, len(got), len(w))
		}
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("the service refused requests: %v", v)
	}
	if g := srv.Groups(); !slices.Equal(g, []string{"/e2e/journal"}) {
		t.Errorf("groups %v", g)
	}
}
