package admin

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/config"
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

func TestPprofIsOptIn(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, on := range []bool{false, true} {
		s, err := Start(config.Admin{Enabled: true, Address: "127.0.0.1:0", Pprof: on}, metrics.New(), func() bool { return true }, logger)
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
