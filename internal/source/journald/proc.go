package journald

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// stopGrace is how long journalctl may take to exit after SIGTERM before
// it is killed.
const stopGrace = 5 * time.Second

// process is one running journalctl whose standard output is read line by
// line.
type process struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdout io.ReadCloser
	lines  *lineReader
	stderr *stderrLines
	// stopped is set by stop: an exit after it is expected.
	stopped atomic.Bool
}

// startProcess runs path with args. It stops when ctx ends or stop is
// called; every line journalctl writes to its standard error is passed to
// onStderr (from another goroutine).
func startProcess(ctx context.Context, path string, args []string, maxLine int, onStderr func(line string)) (*process, error) {
	pctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(pctx, path, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	cmd.Env = append(os.Environ(), "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "LC_ALL=C.UTF-8")
	cmd.SysProcAttr = procAttr()
	stderr := &stderrLines{onLine: onStderr}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	return &process{cmd: cmd, cancel: cancel, stdout: stdout, lines: newLineReader(stdout, maxLine), stderr: stderr}, nil
}

// stop asks journalctl to exit (SIGTERM, then SIGKILL after stopGrace).
// Reads return io.EOF once it has.
func (p *process) stop() {
	p.stopped.Store(true)
	p.cancel()
}

// wait waits for journalctl to exit, stopping it if it still runs. It
// returns nil when journalctl exited because stop asked it to, else an
// *exitError (also for status 0: a following journalctl never ends on its
// own).
func (p *process) wait() error {
	requested := p.stopped.Load()
	p.cancel()
	// Drain what is left so that journalctl is not blocked writing.
	_, _ = io.Copy(io.Discard, p.stdout)
	err := p.cmd.Wait()
	if requested {
		return nil
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return &exitError{code: 0, stderr: p.stderr.last()}
	case errors.As(err, &ee):
		return &exitError{code: ee.ExitCode(), stderr: p.stderr.last()}
	}
	return fmt.Errorf("waiting for journalctl: %w", err)
}

// exitError is journalctl exiting on its own with an error status.
type exitError struct {
	code   int
	stderr string
}

// Error gives the exit status and what journalctl last wrote to its
// standard error.
func (e *exitError) Error() string {
	msg := fmt.Sprintf("journalctl exited with status %d", e.code)
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

// badCursor reports whether journalctl refused the cursor it was given.
func (e *exitError) badCursor() bool {
	return strings.Contains(e.stderr, "cursor")
}

// stderrLines passes journalctl's standard error on line by line and keeps
// the last lines for the error of an exit.
type stderrLines struct {
	onLine func(string)

	mu      sync.Mutex
	partial []byte
	recent  []string
}

const keptStderrLines = 5

// Write implements io.Writer.
func (s *stderrLines) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.partial = append(s.partial, p...)
	var lines []string
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
		if line == "" {
			continue
		}
		lines = append(lines, line)
		s.recent = append(s.recent, line)
		if len(s.recent) > keptStderrLines {
			s.recent = s.recent[1:]
		}
	}
	if len(s.partial) > 4096 {
		s.partial = s.partial[:0]
	}
	s.mu.Unlock()
	if s.onLine != nil {
		for _, l := range lines {
			s.onLine(l)
		}
	}
	return len(p), nil
}

// last returns the last lines written, joined with "; ".
func (s *stderrLines) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.recent...)
	if p := strings.TrimSpace(string(s.partial)); p != "" {
		out = append(out, p)
	}
	return strings.Join(out, "; ")
}
