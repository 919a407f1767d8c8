package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmux runs drover top in a detached tmux session, the way a person runs it
// in a terminal: keys are sent with send-keys and the screen read with
// capture-pane. A missing tmux fails the test with what to install.
type tmux struct {
	t       *testing.T
	bin     string
	socket  string
	session string
}

func newTmux(t *testing.T, width, height int, env []string, command ...string) *tmux {
	t.Helper()
	bin, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatal("drover top's test needs tmux: install Debian's tmux package (scripts/test does)")
	}
	m := &tmux{t: t, bin: bin, socket: filepath.Join(t.TempDir(), "tmux.sock"), session: "top"}
	args := []string{"new-session", "-d", "-s", m.session, "-x", fmt.Sprint(width), "-y", fmt.Sprint(height)}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	m.run(append(args, command...)...)
	t.Cleanup(func() { _ = exec.Command(m.bin, "-S", m.socket, "kill-server").Run() })
	return m
}

func (m *tmux) run(args ...string) string {
	m.t.Helper()
	cmd := exec.Command(m.bin, append([]string{"-S", m.socket}, args...)...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	out, err := cmd.CombinedOutput()
	if err != nil {
		m.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// keys sends keys as tmux names them ("Tab", "Enter", "/", "q").
func (m *tmux) keys(keys ...string) {
	m.run(append([]string{"send-keys", "-t", m.session}, keys...)...)
}

// screen is what the terminal shows now.
func (m *tmux) screen() string { return m.run("capture-pane", "-p", "-t", m.session) }

// waitScreen waits until the screen satisfies ok and returns it.
func (m *tmux) waitScreen(what string, ok func(string) bool) string {
	m.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := m.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("drover top never showed %s; the screen:\n%s", what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (m *tmux) alive() bool {
	return exec.Command(m.bin, "-S", m.socket, "has-session", "-t", m.session).Run() == nil
}

// lineWith returns the screen's line that holds every one of words.
func lineWith(screen string, words ...string) string {
	for _, l := range strings.Split(screen, "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return l
		}
	}
	return ""
}

// TestTopInTmux runs drover top in tmux against the live drover of the
// observed pipeline: the components with the failing sink, the targets
// view with the stalled stream and the exclusions, the filter, the key
// help, the sink's recovery on the live screen, and q.
func TestTopInTmux(t *testing.T) {
	o := startObserved(t)
	o.waitStalled(t)
	m := newTmux(t, 160, 40, []string{"DROVER_ADMIN_TOKEN=" + o.token},
		droverBin, "top", "--address", o.d.admin, "--interval", "300ms")

	s := m.waitScreen("the components", func(s string) bool {
		return lineWith(s, "sink", "out", "http", "failing", "delivery: server_error") != ""
	})
	for _, want := range [][]string{{"source", "tasks", "nomad_logs"}, {"source", "files", "file"}, {"transform", "keep", "filter"}} {
		if lineWith(s, want...) == "" {
			t.Errorf("the components view has no line with %q:\n%s", want, s)
		}
	}
	if l := lineWith(s, "source", "tasks"); !strings.Contains(l, "KiB") {
		t.Errorf("the stalled source shows no bytes behind: %q", l)
	}
	savedScreen(t, "drover-top-components.txt", s)

	m.keys("Tab")
	s = m.waitScreen("the targets", func(s string) bool { return strings.Contains(s, "view targets") })
	if l := lineWith(s, "web/api stdout", "following"); !strings.Contains(l, "KiB") {
		t.Errorf("the stalled stream's line: %q\n%s", l, s)
	}
	if l := lineWith(s, "web/proxy-envoy stdout", "excluded"); !strings.Contains(l, `exclude.tasks "proxy-*"`) {
		t.Errorf("the excluded task's line: %q\n%s", l, s)
	}
	if lineWith(s, "quiet/chatty", "excluded", `meta drover.exclude = "true"`) == "" {
		t.Errorf("no line for the hinted job:\n%s", s)
	}
	savedScreen(t, "drover-top-targets.txt", s)

	m.keys("/", "p", "r", "o", "x", "y", "Enter")
	s = m.waitScreen("the filter applied", func(s string) bool { return strings.Contains(s, "filter: proxy") })
	if lineWith(s, "web/api") != "" || lineWith(s, "web/proxy-envoy stdout") == "" || !strings.Contains(s, "1-2 of 2") {
		t.Errorf("filtered on proxy:\n%s", s)
	}
	m.keys("Escape")
	m.waitScreen("the filter cleared", func(s string) bool { return !strings.Contains(s, "filter:") })

	m.keys("?")
	m.waitScreen("the key help", func(s string) bool { return strings.Contains(s, "next sort order") })
	m.keys("?", "c")

	o.recv.setStatus(0)
	m.waitScreen("the sink recovered, live", func(s string) bool {
		return lineWith(s, "sink", "out", "http", "ok") != "" && lineWith(s, "sink", "out", "failing") == ""
	})
	m.keys("q")
	deadline := time.Now().Add(10 * time.Second)
	for m.alive() {
		if time.Now().After(deadline) {
			t.Fatalf("drover top did not quit on q:\n%s", m.screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// savedScreen keeps a captured terminal screen as a test artifact.
func savedScreen(t *testing.T, name, screen string) {
	t.Helper()
	p := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(p, []byte(screen), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screen: %s", p)
}
