package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/sink/elasticsearch/estest"
)

// fileToElasticsearch is a configuration that tails include into data
// streams named after the source type, with an API key, a file sink that
// keeps its dead letters in data_dir and a required healthcheck.
func fileToElasticsearch(dataDir, include, endpoint string) string {
	return fmt.Sprintf(`
data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }
log { level = "debug" }

source "file" "logs" {
  include = [%q]
}

sink "elasticsearch" "es" {
  inputs   = ["logs"]
  endpoint = %q
  mode     = "data_stream"
  data_stream {
    dataset   = "{{ source_type }}"
    namespace = "{{ team }}"
  }
  auth {
    strategy = "api_key"
    api_key  = env("ES_API_KEY")
  }
  batch {
    max_events = 400
    timeout    = "100ms"
  }
  request {
    retry_initial_backoff = "50ms"
    retry_max_backoff     = "500ms"
  }
  healthcheck { required = true }
}

sink "file" "es_refused" {
  inputs = ["es.dead_letter"]
  path   = "%s/es-dead-letter.ndjson"
  fsync  = true
  rotate { max_bytes = "10MiB" }
}
`, dataDir, include, endpoint, dataDir)
}

// TestElasticsearchSink runs drover from a file source into a fake
// Elasticsearch that decodes real _bulk requests: every good line is
// stored once in its data stream; items refused with 429 are sent again,
// alone; items refused for good are discarded with their error type as the
// reason and written to the dead-letter file; requests above the cluster's
// content length are split; a restart resumes without duplicates.
func TestElasticsearchSink(t *testing.T) {
	for _, flavor := range []estest.Flavor{estest.Elasticsearch8, estest.OpenSearch2} {
		t.Run(flavor.String(), func(t *testing.T) { testElasticsearchSink(t, flavor) })
	}
}

func testElasticsearchSink(t *testing.T, flavor estest.Flavor) {
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	srv := estest.New(t, flavor)
	srv.Authorization = "ApiKey ZHJvdmVyOnNlY3JldA=="
	srv.MaxContentLength = 64 << 10
	srv.Start()
	var mu sync.Mutex
	busy := map[string]int{}
	srv.SetItemFault(func(it *estest.Item) *estest.ItemError {
		msg, _ := it.Fields["message"].(string)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasPrefix(msg, "bad-"):
			return &estest.ItemError{Status: 400, Type: "document_parsing_exception",
				Reason: "[1:37] failed to parse field [message] of type [long] in document"}
		case strings.HasPrefix(msg, "busy-") && busy[msg] == 0:
			busy[msg]++
			return &estest.ItemError{Status: 429, Type: "es_rejected_execution_exception", Reason: "rejected execution of coordinating operation"}
		}
		return nil
	})
	t.Setenv("ES_API_KEY", "ZHJvdmVyOnNlY3JldA==")
	dataDir := filepath.Join(base, "data")
	cfg := writeConfig(t, base, fileToElasticsearch(dataDir, logDir+"/*.log", srv.URL()))

	d := startDrover(t, cfg)
	var lines, good, bad []string
	for i := range 3000 {
		var l string
		switch {
		case i%500 == 7:
			l = fmt.Sprintf("bad-%07d", i)
			bad = append(bad, l)
		case i%300 == 11:
			l = fmt.Sprintf("busy-%07d", i)
			good = append(good, l)
		default:
			l = fmt.Sprintf("good-%07d %s", i, strings.Repeat("p", 100))
			good = append(good, l)
		}
		lines = append(lines, l)
	}
	appendLines(t, filepath.Join(logDir, "app.log"), lines...)
	waitUntil(t, 60*time.Second, "every good line to be stored", func() bool { return storedAll(srv, good) })
	waitUntil(t, 30*time.Second, "the refused lines to be counted", func() bool {
		return d.metric("drover_component_discarded_events_total", `component_id="es"`, `reason="document_parsing_exception"`) == float64(len(bad))
	})
	if !strings.Contains(d.stderr.String(), "HTTP 413") {
		t.Errorf("no warning about requests split after 413")
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d after SIGTERM", code)
	}

	d = startDrover(t, cfg)
	appendLines(t, filepath.Join(logDir, "app.log"), "good-after-restart")
	waitUntil(t, 30*time.Second, "the line written after the restart", func() bool { return storedAll(srv, []string{"good-after-restart"}) })
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d after SIGTERM", code)
	}

	counts := map[string]int{}
	host, _ := os.Hostname()
	for _, doc := range srv.Docs() {
		msg, _ := doc.Fields["message"].(string)
		counts[msg]++
		if doc.Index != "logs-file-default" || doc.Fields["@timestamp"] == nil || doc.Fields["host"] != host ||
			doc.Fields["file"] != filepath.Join(logDir, "app.log") {
			t.Fatalf("document %s in %s", doc.Source, doc.Index)
		}
	}
	for _, m := range append(good, "good-after-restart") {
		if counts[m] != 1 {
			t.Errorf("%.20q stored %d times", m, counts[m])
		}
	}
	for _, m := range bad {
		if counts[m] != 0 {
			t.Errorf("%q stored although refused", m)
		}
	}
	// Retries carry only the items that failed with 429.
	for _, b := range srv.Bulks() {
		if b.Status == 200 && len(b.Items) < 5 {
			for _, it := range b.Items {
				if msg, _ := it.Fields["message"].(string); !strings.HasPrefix(msg, "busy-") && msg != "good-after-restart" {
					t.Errorf("a retry carried %q", msg)
				}
			}
		}
	}

	f, err := os.Open(filepath.Join(dataDir, "es-dead-letter.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dead []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Message    string
			File       string
			DeadLetter struct {
				Sink, Reason, Error string
				Status              int
			} `json:"dead_letter"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("dead letter %q: %v", sc.Text(), err)
		}
		if rec.DeadLetter.Status != 400 || rec.DeadLetter.Reason != "document_parsing_exception" || rec.DeadLetter.Sink != "es" ||
			!strings.Contains(rec.DeadLetter.Error, "failed to parse field [message]") || rec.File != filepath.Join(logDir, "app.log") {
			t.Fatalf("dead letter %s", sc.Text())
		}
		dead = append(dead, rec.Message)
	}
	slices.Sort(dead) // requests run concurrently
	if fmt.Sprint(dead) != fmt.Sprint(bad) {
		t.Fatalf("dead letters %q, want %q", dead, bad)
	}
}

// storedAll reports whether the cluster stored a document for every
// message of want.
func storedAll(srv *estest.Server, want []string) bool {
	got := map[string]bool{}
	for _, d := range srv.Docs() {
		if m, ok := d.Fields["message"].(string); ok {
			got[m] = true
		}
	}
	for _, m := range want {
		if !got[m] {
			return false
		}
	}
	return true
}
