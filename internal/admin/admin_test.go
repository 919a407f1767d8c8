package admin

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func readyStatus() health.Status {
	return health.Status{Status: health.StatusOK, Ready: true, Phase: health.PhaseRunning}
}

func TestReadyAndHealthFollowTheStatus(t *testing.T) {
	c := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return c }
	reg := health.NewRegistry(now)
	var phase atomic.Value
	phase.Store(health.PhaseRunning)
	mon := health.NewMonitor(health.MonitorConfig{Registry: reg, Now: now,
		Policy: health.Policy{SinkFailingAfter: time.Minute, SourceFailingAfter: time.Minute},
		Phase:  func() health.Phase { return phase.Load().(health.Phase) }})
	srv := httptest.NewServer(Handler(Options{Config: config.Admin{}, Metrics: metrics.New(), Status: mon.Status}))
	defer srv.Close()

	sink := reg.Register("sink", "http", "out")
	if code, body := get(t, srv.URL+"/ready"); code != 200 || body != "ready\n" {
		t.Fatalf("/ready = %d %q", code, body)
	}
	sink.Set(health.ConditionDelivery, health.Failing, "unreachable", "connection refused")
	c = c.Add(2 * time.Minute)
	code, body := get(t, srv.URL+"/ready")
	if code != 503 || !strings.Contains(body, `not ready: sink "out": delivery failing (unreachable) for 2m0s`) {
		t.Fatalf("/ready with a dead sink = %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/health"); code != 200 {
		t.Fatalf("/health must stay 200 (liveness): %d", code)
	}
	code, body = get(t, srv.URL+"/api/v1/health")
	var st health.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("/api/v1/health = %d %q: %v", code, body, err)
	}
	if st.Ready || st.Status != health.StatusFailing || len(st.Components) != 1 ||
		st.Components[0].Conditions[0].Reason != "unreachable" || st.Reasons[0].Rule != health.RuleSinkFailing {
		t.Fatalf("/api/v1/health: %+v", st)
	}
	sink.Clear(health.ConditionDelivery)
	phase.Store(health.PhaseStopping)
	if code, body := get(t, srv.URL+"/ready"); code != 503 || body != "not ready: drover is stopping\n" {
		t.Fatalf("/ready while stopping = %d %q", code, body)
	}
}

func TestPprofIsOptIn(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, on := range []bool{false, true} {
		s, err := Start(Options{Config: config.Admin{Enabled: true, Address: "127.0.0.1:0", Pprof: on}, Metrics: metrics.New(),
			Status: readyStatus, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + s.Addr()
		if code, _ := get(t, base+"/ready"); code != http.StatusOK {
			t.Errorf("pprof=%v: /ready answered %d", on, code)
		}
		code, body := get(t, base+"/debug/pprof/")
		switch {
		case !on && code != http.StatusNotFound:
			t.Errorf("pprof off: /debug/pprof/ answered %d, want 404", code)
		case on && (code != http.StatusOK || !strings.Contains(body, "goroutine")):
			t.Errorf("pprof on: /debug/pprof/ answered %d %q", code, body)
		}
		if on {
			if code, body := get(t, base+"/debug/pprof/heap?debug=1"); code != http.StatusOK || !strings.Contains(body, "heap profile") {
				t.Errorf("pprof on: /debug/pprof/heap answered %d", code)
			}
			if code, _ := get(t, base+"/debug/pprof/profile?seconds=1"); code != http.StatusOK {
				t.Errorf("pprof on: /debug/pprof/profile answered %d", code)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
