package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/sink/clickhouse/clickhousetest"
)

// fileToClickHouse is a configuration that tails include into ClickHouse,
// a table per source_type, as the user drover with the X-ClickHouse-*
// headers. The healthcheck is required: drover does not start unless the
// server answers and the credentials work.
func fileToClickHouse(dataDir string, include, endpoint, db string) string {
	return fmt.Sprintf(`
data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }
log { level = "debug" }

source "file" "logs" {
  include = [%q]
}

sink "clickhouse" "ch" {
  inputs                = ["logs"]
  endpoint              = %q
  database              = %q
  table                 = "logs_{{ source_type }}"
  default_table         = "unrouted"
  skip_unknown_fields   = true
  date_time_best_effort = true
  auth {
    strategy = "headers"
    user     = %q
    password = env("CLICKHOUSE_PASSWORD")
  }
  batch {
    max_events = 500
    timeout    = "100ms"
  }
  request {
    retry_initial_backoff = "50ms"
    retry_max_backoff     = "500ms"
  }
  healthcheck { required = true }
}
`, dataDir, include, endpoint, db, clickhousetest.User)
}

// TestClickHouseSink runs drover from a file source into a real ClickHouse
// server: every line arrives once with its metadata, a server outage
// delays delivery without losing or duplicating lines, and a restart of
// drover resumes where it stopped.
func TestClickHouseSink(t *testing.T) {
	srv := clickhousetest.Start(t)
	db := srv.Database(t)
	srv.MustQuery(t, "CREATE TABLE "+db+".logs_file (timestamp DateTime, message String, file String, host String, "+
		"source_type LowCardinality(String)) ENGINE = MergeTree ORDER BY (file, timestamp)")

	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	logFile := filepath.Join(logDir, "app.log")
	cfg := writeConfig(t, base, fileToClickHouse(filepath.Join(base, "data"), logDir+"/*.log", srv.URL, db))
	t.Setenv("CLICKHOUSE_PASSWORD", clickhousetest.Password)

	count := func() int {
		out, err := srv.Query("SELECT count() FROM " + db + ".logs_file")
		if err != nil {
			return -1
		}
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		return n
	}
	first := numbered("ch", 0, 2000)
	appendLines(t, logFile, first...)
	d := startDrover(t, cfg)
	waitUntil(t, 30*time.Second, "the first lines in ClickHouse", func() bool { return count() == len(first) })

	// Outage: the server is down while more lines are written.
	srv.Stop()
	second := numbered("ch", 2000, 3000)
	appendLines(t, logFile, second...)
	waitUntil(t, 20*time.Second, "failed inserts while the server is down", func() bool {
		return d.metric("drover_component_errors_total", `component_type="clickhouse"`, `stage="send"`) >= 3
	})
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the lines written during the outage", func() bool { return count() == 3000 })
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}

	// Restart: only new lines are sent.
	third := numbered("ch", 3000, 3100)
	appendLines(t, logFile, third...)
	d = startDrover(t, cfg)
	waitUntil(t, 30*time.Second, "the lines written while drover was stopped", func() bool { return count() == 3100 })
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}

	stats := srv.Lines(t, "SELECT count(), uniqExact(message), min(message), max(message) FROM "+db+".logs_file")
	if want := "3100\t3100\tch-0000000\tch-0003099"; len(stats) != 1 || stats[0] != want {
		t.Fatalf("count, unique, min, max = %q, want %q", stats, want)
	}
	host, _ := os.Hostname()
	out := srv.MustQuery(t, "SELECT * FROM "+db+".logs_file ORDER BY message LIMIT 1 FORMAT JSONEachRow")
	var row map[string]string
	if err := json.Unmarshal([]byte(out), &row); err != nil {
		t.Fatalf("row %q: %v", out, err)
	}
	if row["file"] != logFile || row["host"] != host || row["source_type"] != "file" || !strings.HasPrefix(row["timestamp"], "20") {
		t.Fatalf("row %v", row)
	}
}
