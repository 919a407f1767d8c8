package metrics

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// exposition returns the registry's drover_ series as served.
func exposition(t *testing.T, r *Registry) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var out []string
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "drover_") {
			out = append(out, l)
		}
	}
	return out
}

func has(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func TestSeriesAppearWhenTheyCanMove(t *testing.T) {
	r := New()
	src := r.Component("source", "journald", "j")
	sink := r.Component("sink", "http", "out")
	r.Component("transform", "remap", "tr")
	lines := exposition(t, r)
	for _, want := range []string{
		`drover_component_received_events_total{component_id="j",`, `drover_component_received_bytes_total{component_id="j",`,
		`drover_component_sent_events_total{component_id="j",`,
		`drover_component_received_events_total{component_id="out",`, `drover_component_sent_bytes_total{component_id="out",`,
		`drover_component_retries_total{component_id="out",`, `drover_buffer_events{component_id="out",`,
		`drover_component_sent_events_total{component_id="tr",`,
	} {
		if !has(lines, want) {
			t.Errorf("no %s...", want)
		}
	}
	for _, not := range []string{
		`drover_files_open{component_id="j",`, `drover_checkpoint_unacknowledged_batches{component_id="out",`,
		`drover_buffer_oldest_event_age_seconds{`, `drover_component_retries_total{component_id="j",`,
		`drover_buffer_events{component_id="j",`, `drover_component_sent_bytes_total{component_id="tr",`,
	} {
		if has(lines, not) {
			t.Errorf("%s... shown though it can only be 0 for that component", not)
		}
	}
	sink.RequestDuration("partial")
	if has(exposition(t, r), "drover_component_request_duration_seconds") {
		t.Error("a request outcome shows before its first observation")
	}
	sink.RequestDuration("ok").Observe(0.2)
	if !has(exposition(t, r), `drover_component_request_duration_seconds_count{component_id="out",component_kind="sink",component_type="http",outcome="ok"} 1`) {
		t.Error("an observed outcome must show")
	}
	src.FilesOpen.Set(3)
	sink.BufferAge.Set(1.5)
	lines = exposition(t, r)
	if !has(lines, `drover_files_open{component_id="j",component_kind="source",component_type="journald"} 3`) ||
		!has(lines, `drover_buffer_oldest_event_age_seconds{component_id="out",component_kind="sink",component_type="http"} 1.5`) {
		t.Fatalf("used series must show:\n%s", strings.Join(lines, "\n"))
	}
	if testutil.ToFloat64(sink.SentEvents) != 0 || testutil.ToFloat64(src.FilesOpen) != 3 {
		t.Fatal("lazy instruments must read like plain ones")
	}
}

func TestFileSeriesBeyondTheLimitAreSummed(t *testing.T) {
	r := New()
	r.SetFileSeriesLimit(2)
	c := r.Component("source", "file", "app")
	again := r.Component("source", "file", "app") // an instance rebuilt by a reload
	a, b := c.BytesBehind("/a"), c.BytesBehind("/b")
	x, y := c.BytesBehind("/x"), again.BytesBehind("/y")
	a.Set(10)
	b.Set(20)
	x.Set(100)
	y.Set(1000)
	y.Add(1)
	if c.BytesBehind("/x") != x {
		t.Fatal("the same file must get the same gauge")
	}
	series := func() map[string]string {
		out := map[string]string{}
		for _, l := range exposition(t, r) {
			if strings.HasPrefix(l, "drover_file_bytes_behind{") {
				i := strings.Index(l, `file="`)
				j := strings.Index(l[i+6:], `"`)
				out[l[i+6:i+6+j]] = l[strings.LastIndexByte(l, ' ')+1:]
			}
		}
		return out
	}
	if got := fmt.Sprint(series()); got != "map[/a:10 /b:20 _other:1101]" {
		t.Fatalf("series: %s", got)
	}
	c.ForgetFile("/y")
	y.Set(5000) // a forgotten share no longer counts
	if got := fmt.Sprint(series()); got != "map[/a:10 /b:20 _other:100]" {
		t.Fatalf("after forgetting /y: %s", got)
	}
	// A freed named slot goes to the next new file.
	c.ForgetFile("/a")
	c.BytesBehind("/z").Set(7)
	c.ForgetFile("/x")
	if got := fmt.Sprint(series()); got != "map[/b:20 /z:7]" {
		t.Fatalf("after forgetting /a and /x: %s", got)
	}
	// 0: one series for every file.
	r.SetFileSeriesLimit(0)
	d := r.Component("source", "nomad_logs", "tasks")
	d.BytesBehind("/1").Set(1)
	d.BytesBehind("/2").Set(2)
	n := 0
	for _, l := range exposition(t, r) {
		if strings.Contains(l, `component_id="tasks"`) && strings.HasPrefix(l, "drover_file_bytes_behind") {
			n++
			if !strings.Contains(l, `file="_other"`) || !strings.HasSuffix(l, " 3") {
				t.Errorf("limit 0: %s", l)
			}
		}
	}
	if n != 1 {
		t.Fatalf("limit 0: %d series", n)
	}
}

func TestBuildInfoAndReloads(t *testing.T) {
	r := New()
	lines := exposition(t, r)
	if !has(lines, `drover_build_info{goversion="go1.`) || !has(lines, `drover_config_reloads_total{result="failure"} 0`) {
		t.Fatalf("%s", strings.Join(lines, "\n"))
	}
	at := time.Unix(1_800_000_000, 0)
	r.ConfigLoaded(false, true, at)
	r.ConfigLoaded(true, false, at.Add(time.Minute))
	lines = exposition(t, r)
	for _, want := range []string{`drover_config_reloads_total{result="failure"} 1`, `drover_config_reloads_total{result="success"} 0`,
		"drover_config_last_reload_successful 0", "drover_config_last_reload_success_timestamp_seconds 1.8e+09"} {
		if !has(lines, want) {
			t.Errorf("no %s in\n%s", want, strings.Join(lines, "\n"))
		}
	}
	r.ConfigLoaded(true, true, at.Add(2*time.Minute))
	if l := exposition(t, r); !has(l, "drover_config_last_reload_successful 1") || !has(l, "drover_config_last_reload_success_timestamp_seconds 1.80000012e+09") {
		t.Errorf("after a good reload:\n%s", strings.Join(l, "\n"))
	}
}
