package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// droverCLI runs a drover command that asks the observed drover, with the
// admin token in the environment, and returns its output and exit status.
func (o *observed) cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(droverBin, args...)
	cmd.Env = append(os.Environ(), "DROVER_ADMIN_ADDRESS="+o.d.admin, "DROVER_ADMIN_TOKEN_FILE="+o.tokenFile)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running drover %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// TestExplain asks the real binary about tasks and files of a running
// drover: an excluded task (exit 1, the rule named), a stream stalled
// behind a failing sink (exit 1, behind), the same once the sink takes
// events again (--wait: exit 0, shipped), a file by its path, a file an
// exclude pattern leaves out (exit 1, the pattern named), an unknown
// allocation, a drover that does not answer (exit 2), a missing token.
func TestExplain(t *testing.T) {
	o := startObserved(t)
	o.waitStalled(t)

	out, _, code := o.cli(t, "explain", "web/proxy-envoy")
	if code != 1 || !strings.Contains(out, `verdict:           not shipped: excluded by exclude.tasks "proxy-*"`) ||
		strings.Count(out, "task web/proxy-envoy") != 2 {
		t.Errorf("explain web/proxy-envoy: exit %d\n%s", code, out)
	}
	out, _, code = o.cli(t, "explain", o.quiet[:8])
	if code != 1 || !strings.Contains(out, `excluded by meta drover.exclude = "true"`) {
		t.Errorf("explain %s (short alloc id of the hinted job): exit %d\n%s", o.quiet[:8], code, out)
	}
	out, _, code = o.cli(t, "explain", filepath.Join(nomadLogsDir(o), "api.stdout.0"))
	if code != 1 || !strings.Contains(out, "task web/api stdout") || !strings.Contains(out, "verdict:           behind:") ||
		!strings.Contains(out, "sink:              out (http) failing") || !strings.Contains(out, "retrying since") {
		t.Errorf("explain of the stalled stream's file: exit %d\n%s", code, out)
	}

	o.recv.setStatus(0)
	out, _, code = o.cli(t, "explain", "--wait", "60s", "web/api")
	if code != 0 || strings.Count(out, "verdict:           shipped") != 2 || !strings.Contains(out, "sink:              out (http) ok") {
		t.Errorf("explain --wait web/api after the recovery: exit %d\n%s", code, out)
	}
	out, _, code = o.cli(t, "explain", filepath.Join(o.logDir, "app.log"))
	if code != 0 || !strings.Contains(out, "source:            files (file)") {
		t.Errorf("explain app.log: exit %d\n%s", code, out)
	}
	debug := filepath.Join(o.logDir, "debug-1.log")
	out, _, code = o.cli(t, "explain", debug)
	if code != 1 || !strings.Contains(out, "file "+debug) ||
		!strings.Contains(out, fmt.Sprintf("verdict:           not shipped: excluded by exclude %q", filepath.Join(o.logDir, "debug-*.log"))) {
		t.Errorf("explain of the excluded file: exit %d\n%s", code, out)
	}
	out, _, code = o.cli(t, "explain", "0badc0de-0000-0000-0000-000000000000")
	if code != 1 || !strings.Contains(out, "no source of this drover") {
		t.Errorf("explain of an unknown allocation: exit %d\n%s", code, out)
	}

	// Without the token drover refuses, and explain says what to do.
	cmd := exec.Command(droverBin, "explain", "--address", o.d.admin, "web/api")
	cmd.Env = append(os.Environ(), "DROVER_ADMIN_TOKEN=", "DROVER_ADMIN_TOKEN_FILE=")
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(b), "wants its admin token") {
		t.Errorf("explain without the token: %v\n%s", err, b)
	}
	// Nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	_, errOut, code := o.cli(t, "explain", "--address", dead, "web/api")
	if code != 2 || !strings.Contains(errOut, "is it running") {
		t.Errorf("explain against nothing: exit %d, %s", code, errOut)
	}
}

func nomadLogsDir(o *observed) string {
	return filepath.Join(o.base, "alloc", o.web, "alloc", "logs")
}

// TestTap taps a running drover with the real binary: the events leaving
// the filter while lines are written, sampled; a sink refused as a tap
// point; and a viewer that reads nothing, which loses sampled events
// (counted) while the pipeline delivers every line as if it were not
// there.
func TestTap(t *testing.T) {
	o := startObserved(t)
	o.recv.setStatus(0)
	app := filepath.Join(o.logDir, "app.log")

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			appendLines(t, app, fmt.Sprintf("tapped line %d", i))
		}
	}()
	out, errOut, code := o.cli(t, "tap", "keep", "--limit", "5", "--sample", "2")
	close(stop)
	<-done
	if code != 0 {
		t.Fatalf("tap keep: exit %d: %s", code, errOut)
	}
	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("tap printed %q: %v", sc.Text(), err)
		}
		events = append(events, ev)
	}
	if len(events) != 5 {
		t.Fatalf("tap --limit 5 printed %d events:\n%s", len(events), out)
	}
	for _, ev := range events {
		if msg, _ := ev["message"].(string); !strings.HasPrefix(msg, "tapped line ") && !strings.HasPrefix(msg, "api-") {
			t.Errorf("tapped event %v", ev)
		}
	}

	_, errOut, code = o.cli(t, "tap", "out")
	if code != 1 || !strings.Contains(errOut, `"out" is a sink, which has no default output; tap one of its inputs: [keep]`) {
		t.Errorf("tap of a sink: exit %d: %s", code, errOut)
	}
	_, errOut, code = o.cli(t, "tap", "keep", "--output", "nope")
	if code != 1 || !strings.Contains(errOut, `has no output "keep.nope"`) {
		t.Errorf("tap of a missing output: exit %d: %s", code, errOut)
	}

	// A viewer that never reads: its connection fills, its tap's buffer
	// fills, and sampled events are lost to it, counted; the lines all
	// reach the sink.
	// Its receive buffer is small, so that the stall reaches drover soon.
	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	conn, err := dialer.Dial("tcp", o.d.admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/tap?output=files HTTP/1.1\r\nHost: drover\r\nAuthorization: Bearer %s\r\n\r\n", o.token)
	head := make([]byte, 15)
	if _, err := io.ReadFull(conn, head); err != nil || string(head) != "HTTP/1.1 200 OK" {
		t.Fatalf("the stalled viewer's tap: %q %v", head, err)
	}
	var want []string
	for i := 0; i < 40; i++ {
		var lines []string
		for j := 0; j < 1000; j++ {
			lines = append(lines, fmt.Sprintf("flood %02d-%04d %s", i, j, strings.Repeat("x", 200)))
		}
		appendLines(t, app, lines...)
		want = append(want, lines...)
	}
	waitUntil(t, 60*time.Second, "every flood line delivered with a stalled viewer attached", func() bool {
		return o.recv.hasAll(want)
	})
	if lost := o.d.metric("drover_tap_discarded_events_total", `output="files"`, `reason="viewer_too_slow"`); lost == 0 {
		t.Errorf("the stalled viewer lost no events: drover_tap_discarded_events_total = %v", lost)
	} else {
		t.Logf("a viewer that reads nothing lost %v sampled events; the pipeline delivered all %d lines", lost, len(want))
	}
}
