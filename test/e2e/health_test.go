package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// healthDoc is the part of /api/v1/health the tests read.
type healthDoc struct {
	Status  string `json:"status"`
	Ready   bool   `json:"ready"`
	Phase   string `json:"phase"`
	Reasons []struct {
		Effect      string     `json:"effect"`
		Rule        string     `json:"rule"`
		ComponentID string     `json:"component_id"`
		Condition   string     `json:"condition"`
		Reason      string     `json:"reason"`
		Since       time.Time  `json:"since"`
		NotReadyAt  *time.Time `json:"not_ready_at"`
	} `json:"reasons"`
	Components []struct {
		Kind       string `json:"kind"`
		ID         string `json:"id"`
		State      string `json:"state"`
		Conditions []struct {
			Name       string    `json:"name"`
			State      string    `json:"state"`
			Reason     string    `json:"reason"`
			StateSince time.Time `json:"state_since"`
		} `json:"conditions"`
	} `json:"components"`
}

// health reads /api/v1/health.
func (d *drover) health() healthDoc {
	d.t.Helper()
	resp, err := http.Get("http://" + d.admin + "/api/v1/health")
	if err != nil {
		d.t.Fatalf("reading /api/v1/health: %v", err)
	}
	defer resp.Body.Close()
	var h healthDoc
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		d.t.Fatalf("decoding /api/v1/health: %v", err)
	}
	return h
}

// ready asks /ready with a short timeout: it must answer at once, whatever
// drover is doing. It returns the status code, or 0 when no answer came.
func (d *drover) ready(timeout time.Duration) (int, string) {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get("http://" + d.admin + "/ready")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDeadSinkMakesDroverNotReady: a sink whose destination is down makes
// /ready fail once it has been failing for health.sink_failing_after, not
// before; /health stays 200 (a restart does not bring a destination
// back); and readiness returns when the destination does, with every line
// delivered.
func TestDeadSinkMakesDroverNotReady(t *testing.T) {
	const period = 3 * time.Second
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	recv := newReceiver(t)
	cfg := writeConfig(t, base, fileToHTTP(filepath.Join(base, "data"), []string{logDir + "/*.log"}, recv.url(), "")+
		fmt.Sprintf("health {\n  sink_failing_after = %q\n}\n", period))
	first := numbered("before", 0, 100)
	appendLines(t, filepath.Join(logDir, "a.log"), first...)
	d := startDrover(t, cfg)
	waitUntil(t, 20*time.Second, "the first lines", func() bool { return recv.hasAll(first) })
	if h := d.health(); !h.Ready || h.Status != "ok" || h.Phase != "running" || len(h.Components) != 2 {
		t.Fatalf("healthy: %+v", h)
	}

	recv.down()
	second := numbered("during", 0, 100)
	appendLines(t, filepath.Join(logDir, "a.log"), second...)

	// The sink's delivery condition appears at once, as failing; drover
	// stays ready for the period.
	var since time.Time
	waitUntil(t, 20*time.Second, "the sink's delivery condition", func() bool {
		for _, c := range d.health().Components {
			if c.ID == "out" && len(c.Conditions) > 0 && c.Conditions[0].Name == "delivery" && c.Conditions[0].State == "failing" {
				since = c.Conditions[0].StateSince
				return true
			}
		}
		return false
	})
	var notReadyAt time.Time
	waitUntil(t, period+10*time.Second, "/ready to fail", func() bool {
		code, body := d.ready(time.Second)
		now := time.Now()
		switch code {
		case http.StatusOK:
			return false
		case http.StatusServiceUnavailable:
			if now.Before(since.Add(period - 200*time.Millisecond)) {
				t.Fatalf("/ready failed %v after the sink began failing; the period is %v: %q", now.Sub(since), period, body)
			}
			if !strings.Contains(body, `sink "out": delivery failing`) {
				t.Fatalf("/ready's body does not say why: %q", body)
			}
			notReadyAt = now
			return true
		}
		t.Fatalf("/ready answered %d %q", code, body)
		return false
	})
	late := notReadyAt.Sub(since.Add(period))
	t.Logf("/ready failed %v after the sink began failing (period %v)", notReadyAt.Sub(since).Round(time.Millisecond), period)
	if late > 2*time.Second {
		t.Errorf("/ready failed %v after the period ended", late)
	}
	if code, _ := d.ready(time.Second); code != http.StatusServiceUnavailable {
		t.Fatalf("/ready went back to %d while the sink is still down", code)
	}
	resp, err := http.Get("http://" + d.admin + "/health")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/health (liveness) must stay 200 while a sink is down: %v %v", resp, err)
	}
	resp.Body.Close()
	h := d.health()
	if h.Ready || h.Status != "failing" || len(h.Reasons) == 0 || h.Reasons[0].Rule != "sink_failing" ||
		h.Reasons[0].Effect != "not_ready" || h.Reasons[0].ComponentID != "out" || h.Reasons[0].Reason == "" {
		t.Fatalf("/api/v1/health with a dead sink: %+v", h)
	}
	if d.metric("drover_ready") != 0 || d.metric("drover_component_health", `component_id="out"`, `state="failing"`) != 1 {
		t.Errorf("metrics: drover_ready %v, sink failing %v", d.metric("drover_ready"),
			d.metric("drover_component_health", `component_id="out"`, `state="failing"`))
	}
	if !strings.Contains(d.stderr.String(), "drover is not ready") {
		t.Error("the loss of readiness was not logged")
	}

	recv.up()
	waitUntil(t, 30*time.Second, "readiness after the destination came back", func() bool {
		code, _ := d.ready(time.Second)
		return code == http.StatusOK
	})
	waitUntil(t, 30*time.Second, "every line", func() bool { return recv.hasAll(append(first, second...)) })
	if code := d.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestReadyFailsAtOnceOnSIGTERM: while drover drains a sink that cannot
// deliver (for up to shutdown_timeout), /ready answers 503 within 100 ms
// of SIGTERM, and keeps answering.
func TestReadyFailsAtOnceOnSIGTERM(t *testing.T) {
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	recv := newReceiver(t)
	recv.down()
	cfg := writeConfig(t, base, fileToHTTP(filepath.Join(base, "data"), []string{logDir + "/*.log"}, recv.url(), "")+
		"health {\n  sink_failing_after = \"1h\"\n}\n")
	appendLines(t, filepath.Join(logDir, "a.log"), numbered("held", 0, 50)...)
	d := startDrover(t, cfg)
	waitUntil(t, 20*time.Second, "the sink to hold events", func() bool {
		return d.metric("drover_buffer_events", `component_id="out"`) > 0
	})
	if code, body := d.ready(time.Second); code != http.StatusOK {
		t.Fatalf("before SIGTERM /ready = %d %q", code, body)
	}

	sent := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var answered time.Duration
	for {
		code, body := d.ready(100 * time.Millisecond)
		answered = time.Since(sent)
		if code == http.StatusServiceUnavailable {
			if !strings.Contains(body, "stopping") {
				t.Fatalf("/ready while stopping: %q", body)
			}
			break
		}
		if answered > 100*time.Millisecond {
			t.Fatalf("/ready answered %d %q %v after SIGTERM; want 503 within 100ms", code, body, answered)
		}
	}
	t.Logf("/ready answered 503 %v after SIGTERM", answered.Round(time.Microsecond))
	// The drain goes on (the sink is down); /ready keeps answering at once.
	for range 5 {
		start := time.Now()
		if code, body := d.ready(500 * time.Millisecond); code != http.StatusServiceUnavailable {
			t.Fatalf("/ready during the drain = %d %q", code, body)
		}
		if took := time.Since(start); took > 200*time.Millisecond {
			t.Fatalf("/ready took %v during the drain", took)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if h := d.health(); h.Phase != "stopping" || h.Ready {
		t.Fatalf("/api/v1/health during the drain: %+v", h)
	}
	select {
	case <-d.exited:
		t.Fatal("drover exited before shutdown_timeout while its sink held events")
	default:
	}
	// The destination comes back: the drain ends, and drover exits 0
	// (another SIGTERM would be taken as "exit now").
	recv.up()
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("drover did not finish its drain after the destination came back")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if !recv.hasAll(numbered("held", 0, 50)) {
		t.Fatal("the held lines were not delivered by the drain")
	}
}

// TestTwoSIGINTsInTheSameInstantAreOne: timeout(1) and a terminal's Ctrl-C
// signal drover and then its whole process group, so drover can get the
// same SIGINT twice in the same instant (the kernel merges the two only when
// the first is still pending). The second must not be taken as "exit now":
// drover stops cleanly, exit 0.
func TestTwoSIGINTsInTheSameInstantAreOne(t *testing.T) {
	base := t.TempDir()
	logDir := filepath.Join(base, "logs")
	os.MkdirAll(logDir, 0o755)
	recv := newReceiver(t)
	cfg := writeConfig(t, base, fileToHTTP(filepath.Join(base, "data"), []string{logDir + "/*.log"}, recv.url(), ""))
	lines := numbered("t", 0, 200)
	appendLines(t, filepath.Join(logDir, "a.log"), lines...)

	t.Run("second after the first was taken", func(t *testing.T) {
		d := startDrover(t, cfg)
		waitUntil(t, 30*time.Second, "every line", func() bool { return recv.hasAll(lines) })
		// The sink holds events it cannot deliver yet, so that the drain
		// lasts until the destination answers again.
		recv.setStatus(http.StatusServiceUnavailable)
		held := numbered("held", 0, 20)
		appendLines(t, filepath.Join(logDir, "a.log"), held...)
		waitUntil(t, 30*time.Second, "the sink to hold events", func() bool {
			return d.metric("drover_buffer_events", `component_id="out"`) > 0
		})
		if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		// Once drover has taken the first (it says "stopping"), the second
		// arrives as a separate signal, well within the half second.
		waitUntil(t, 10*time.Second, "drover to take the first SIGINT", func() bool {
			return strings.Contains(d.stderr.String(), "msg=stopping")
		})
		if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		recv.setStatus(0)
		select {
		case <-d.exited:
		case <-time.After(60 * time.Second):
			t.Fatal("drover did not stop")
		}
		out := d.stderr.String()
		if code := d.cmd.ProcessState.ExitCode(); code != 0 || strings.Contains(out, "second signal") ||
			!strings.Contains(out, "the same stop signal again in the same instant") || !strings.Contains(out, "drover stopped") {
			t.Fatalf("exit code %d:\n%s", code, tail(out, 30))
		}
		if !recv.hasAll(held) {
			t.Fatal("the drain did not deliver the held lines")
		}
	})

	t.Run("under timeout", func(t *testing.T) {
		timeoutBin, err := exec.LookPath("timeout")
		if err != nil {
			t.Skip("timeout(1) is not installed")
		}
		more := numbered("u", 0, 100)
		appendLines(t, filepath.Join(logDir, "a.log"), more...)
		// timeout(1) acts when its alarm rings: SIGALRM sent to it rings it
		// now, once drover has delivered the lines, instead of after a guess.
		cmd := exec.Command(timeoutBin, "--preserve-status", "-s", "INT", "1h", droverBin, "run", "--config", cfg)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var waitErr error
		go func() { waitErr = cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			select {
			case <-done:
			default:
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // timeout leads its own process group
				<-done
			}
		})
		waitUntil(t, 30*time.Second, "the new lines", func() bool { return recv.hasAll(more) })
		if err := cmd.Process.Signal(syscall.SIGALRM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("drover did not stop after SIGINT\n%s", tail(stderr.String(), 40))
		}
		out := stderr.String()
		if waitErr != nil || !strings.Contains(out, "drover stopped") || strings.Contains(out, "second signal") {
			t.Fatalf("drover did not stop cleanly under timeout: %v\n%s", waitErr, tail(out, 40))
		}
		t.Logf("SIGINT arrived twice as separate signals: %v", strings.Contains(out, "the same stop signal again"))
	})
}
