package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSecretsNeverPrinted runs drover with an admin token and a sink
// token, both read from files, against a destination that echoes the
// credentials it refuses in its error answers (as some proxies do). The
// logs (at debug level), the admin endpoint's answers and the
// configuration dump never show either token; the places where they would
// show hold the mask.
func TestSecretsNeverPrinted(t *testing.T) {
	const (
		adminToken = "adm1n-t0ken-3c5d7e9f1a2b4c6d"
		sinkToken  = "s1nk-t0ken-8f7e6d5c4b3a2910"
	)
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	adminFile := filepath.Join(base, "admin-token")
	sinkFile := filepath.Join(base, "sink-token")
	os.WriteFile(adminFile, []byte(adminToken+"\n"), 0o600)
	os.WriteFile(sinkFile, []byte(sinkToken+"\n"), 0o600)

	var mu sync.Mutex
	refusals, got := 0, map[string]bool{}
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if refusals < 3 {
			refusals++
			http.Error(w, "upstream unavailable; credentials were: "+r.Header.Get("Authorization"), http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+sinkToken {
			t.Errorf("the sink sent %q", r.Header.Get("Authorization"))
		}
		sc := bufio.NewScanner(strings.NewReader(string(body)))
		for sc.Scan() {
			var rec record
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Errorf("not NDJSON: %q", sc.Text())
			}
			got[rec.str("message")] = true
		}
	}))
	defer dest.Close()

	cfgPath := writeConfig(t, base, fmt.Sprintf(`
data_dir = %q
admin {
  address         = "127.0.0.1:0"
  token_file      = %q
  unauthenticated = ["/health", "/ready"]
}
log { level = "debug" }

source "file" "logs" { include = [%q] }

sink "http" "out" {
  inputs   = ["logs"]
  uri      = %q
  encoding = "ndjson"
  auth {
    strategy = "bearer"
    token    = file(%q)
  }
  batch { timeout = "50ms" }
  request {
    retry_initial_backoff = "20ms"
    retry_max_backoff     = "100ms"
  }
}
`, filepath.Join(base, "data"), adminFile, logDir+"/*.log", dest.URL, sinkFile))
	lines := numbered("sec", 0, 20)
	appendLines(t, filepath.Join(logDir, "a.log"), lines...)
	d := startDrover(t, cfgPath)
	waitUntil(t, 20*time.Second, "every line", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			if !got[l] {
				return false
			}
		}
		return true
	})

	// The admin endpoint: /health and /ready are open, the rest needs the
	// token, and no answer shows it.
	get := func(path, auth string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+d.admin+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var answers strings.Builder
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/health", "", 200}, {"/ready", "", 200}, {"/metrics", "", 401}, {"/api/v1/health", "", 401},
		{"/metrics", "Bearer " + adminToken, 200}, {"/api/v1/health", "Bearer " + adminToken, 200},
		{"/debug/pprof/", "Bearer " + adminToken, 404},
	} {
		code, body := get(tc.path, tc.auth)
		if code != tc.want {
			t.Errorf("GET %s (%q): %d, want %d", tc.path, tc.auth, code, tc.want)
		}
		answers.WriteString(body)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}

	dump, err := exec.Command(droverBin, "validate", "--print", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("validate --print: %v\n%s", err, dump)
	}
	logs := d.stderr.String()
	for what, text := range map[string]string{"the logs": logs, "the admin answers": answers.String(), "the dump": string(dump)} {
		for _, tok := range []string{adminToken, sinkToken} {
			if strings.Contains(text, tok) {
				t.Errorf("%s show a token:\n%s", what, tail(text, 40))
			}
		}
	}
	// The refusals were logged, with the echoed credentials masked: the
	// check above could have failed.
	if !strings.Contains(logs, "credentials were: Bearer [redacted]") {
		t.Errorf("the echoed credentials were not logged masked:\n%s", tail(logs, 40))
	}
	if !strings.Contains(string(dump), `"token": "[redacted]"`) || !strings.Contains(string(dump), `"token_file": "`+adminFile+`"`) {
		t.Errorf("dump:\n%s", dump)
	}
}
