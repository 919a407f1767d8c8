package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/drover-dev/drover/internal/sink/clickhouse/clickhousetest"
)

// TestAggregatorRoundTrip: the same 100,000 lines shipped by a node agent
// straight into ClickHouse and through Kafka and an aggregator end as the
// same rows. The node agent tails a file into table "direct" and into a
// kfake topic; the aggregator (another drover process) reads the topic
// into table "via_kafka".
func TestAggregatorRoundTrip(t *testing.T) {
	srv := clickhousetest.Start(t)
	db := srv.Database(t)
	for _, table := range []string{"direct", "via_kafka"} {
		srv.MustQuery(t, "CREATE TABLE "+db+"."+table+" (timestamp String, message String, file String, host String, "+
			"source_type LowCardinality(String), truncated UInt8 DEFAULT 0) ENGINE = MergeTree ORDER BY (file, timestamp, message)")
	}
	const topic = "logs-file"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	t.Setenv("CLICKHOUSE_PASSWORD", clickhousetest.Password)

	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	const total = 100000
	var want []string
	for f := 0; f < 4; f++ {
		lines := make([]string, 0, total/4)
		for i := f; i < total; i += 4 {
			lines = append(lines, roundTripLine(i))
		}
		appendLines(t, filepath.Join(logDir, fmt.Sprintf("app-%d.log", f)), lines...)
		want = append(want, lines...)
	}

	chSink := func(name, input, table string) string {
		return fmt.Sprintf(`
sink "clickhouse" %q {
  inputs              = [%q]
  endpoint            = %q
  database            = %q
  table               = %q
  skip_unknown_fields = true
  auth {
    strategy = "headers"
    user     = %q
    password = env("CLICKHOUSE_PASSWORD")
  }
  batch {
    max_events = 5000
    timeout    = "100ms"
  }
}
`, name, input, srv.URL, db, table, clickhousetest.User)
	}
	agentDir, aggDir := filepath.Join(base, "agent"), filepath.Join(base, "aggregator")
	os.MkdirAll(agentDir, 0o755)
	os.MkdirAll(aggDir, 0o755)
	agent := fmt.Sprintf(`
data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }

source "file" "logs" {
  include        = [%q]
  max_line_bytes = 2048
}

sink "kafka" "kafka" {
  inputs  = ["logs"]
  brokers = [%q]
  topic   = "logs-{{ source_type }}"
  key     = "{{ file }}"
}
`, filepath.Join(agentDir, "data"), logDir+"/*.log", strings.Join(c.ListenAddrs(), `", "`)) + chSink("direct", "logs", "direct")
	aggregator := fmt.Sprintf(`
data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }

source "kafka" "nodes" {
  brokers  = [%q]
  topics   = ["^logs-.*"]
  group_id = "aggregators"
}
`, filepath.Join(aggDir, "data"), strings.Join(c.ListenAddrs(), `", "`)) + chSink("via_kafka", "nodes", "via_kafka")

	a := startDrover(t, writeConfig(t, agentDir, agent))
	g := startDrover(t, writeConfig(t, aggDir, aggregator))
	count := func(table string) int {
		out, err := srv.Query("SELECT count() FROM " + db + "." + table)
		if err != nil {
			return -1
		}
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		return n
	}
	waitUntil(t, 120*time.Second, "every line in both tables", func() bool { return count("direct") == total && count("via_kafka") == total })
	for _, d := range []*drover{a, g} {
		if code := d.stop(); code != 0 {
			t.Fatalf("drover exited with %d", code)
		}
	}
	// The same multiset of rows: count, sum and xor of the rows' hashes
	// (this ClickHouse has no EXCEPT), and the first rows in full.
	digest := func(table string) []string {
		return srv.Lines(t, "SELECT count(), sum(h), groupBitXor(h) FROM (SELECT cityHash64(timestamp, message, file, host, source_type, truncated) AS h FROM "+db+"."+table+")")
	}
	if d, k := digest("direct"), digest("via_kafka"); len(d) != 1 || d[0] != k[0] {
		t.Errorf("the tables differ: direct %q, via the aggregator %q", d, k)
	}
	first := func(table string) []string {
		return srv.Lines(t, "SELECT * FROM "+db+"."+table+" ORDER BY file, timestamp, message LIMIT 20")
	}
	if d, k := first("direct"), first("via_kafka"); strings.Join(d, "\n") != strings.Join(k, "\n") {
		t.Errorf("first rows differ:\n%s\n---\n%s", strings.Join(d, "\n"), strings.Join(k, "\n"))
	}
	stats := srv.Lines(t, "SELECT count(), uniqExact(message), countIf(truncated = 1), uniqExact(file) FROM "+db+".via_kafka")
	host, _ := os.Hostname()
	t.Logf("round trip: %d lines; via the aggregator: %s", len(want), stats)
	if len(stats) != 1 || !strings.HasPrefix(stats[0], fmt.Sprintf("%d\t%d\t", total, total)) {
		t.Errorf("via_kafka: count, unique = %q", stats)
	}
	if rows := srv.Lines(t, "SELECT count() FROM "+db+".via_kafka WHERE host != '"+host+"' OR source_type != 'file'"); rows[0] != "0" {
		t.Errorf("%s rows without the node agent's host and source_type", rows[0])
	}
}

// roundTripLine is line i: plain text with characters that need escaping
// in JSON, Unicode, and now and then a line longer than max_line_bytes.
func roundTripLine(i int) string {
	switch i % 10 {
	case 0:
		return fmt.Sprintf(`rt-%07d {"level":"info","msg":"quoted \"value\"","path":"C:\\tmp"}`, i)
	case 1:
		return fmt.Sprintf("rt-%07d tab\there café 東京 — \x01 end", i)
	case 2:
		if i%1000 == 2 {
			return fmt.Sprintf("rt-%07d long %s", i, strings.Repeat("x", 3000))
		}
	}
	return fmt.Sprintf("rt-%07d GET /api/v1/orders/%d 200 %dms", i, i*7, i%500)
}
