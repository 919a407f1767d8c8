package chaos

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// supervisor runs the drover binary, one process at a time, and keeps the
// timeline the checker needs: when each process started and ended, and
// how.
type supervisor struct {
	bin     string
	workDir string // configuration, logs of each process
	cfgPath string
	logf    func(format string, args ...any) // the supervisor's events, for diagnosis

	mu      sync.Mutex
	cur     *process
	runs    []run
	logs    []string // log file of each process
	kills   int
	stops   int
	reloads int
	crashes []string
}

// process is one drover process.
type process struct {
	cmd      *exec.Cmd
	log      *os.File
	logPath  string
	exited   chan struct{}
	expected bool // we signalled it to end
	killed   bool // with SIGKILL
	index    int
}

func newSupervisor(bin, workDir string) *supervisor {
	return &supervisor{bin: bin, workDir: workDir, cfgPath: filepath.Join(workDir, "drover.hcl"),
		logf: func(string, ...any) {}}
}

// writeConfig replaces the configuration file atomically.
func (s *supervisor) writeConfig(text string) error {
	tmp := s.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return fmt.Errorf("writing configuration: %w", err)
	}
	if err := os.Rename(tmp, s.cfgPath); err != nil {
		return fmt.Errorf("writing configuration: %w", err)
	}
	return nil
}

// start runs a new process with the configuration text. The previous one
// must have ended.
func (s *supervisor) start(cfg string) error {
	if err := s.writeConfig(cfg); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		return errors.New("supervisor: a drover process is running")
	}
	idx := len(s.runs)
	logPath := filepath.Join(s.workDir, fmt.Sprintf("drover-%04d.log", idx))
	lf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("creating %s: %w", logPath, err)
	}
	cmd := exec.Command(s.bin, "run", "--config", s.cfgPath)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = cleanEnv()
	p := &process{cmd: cmd, log: lf, logPath: logPath, exited: make(chan struct{}), index: idx}
	s.runs = append(s.runs, run{start: time.Now()})
	s.logs = append(s.logs, logPath)
	if err := cmd.Start(); err != nil {
		s.runs = s.runs[:idx]
		s.logs = s.logs[:idx]
		lf.Close()
		return fmt.Errorf("starting drover: %w", err)
	}
	s.cur = p
	s.logf("drover %d started (pid %d)", idx, cmd.Process.Pid)
	go s.reap(p)
	return nil
}

// cleanEnv is the environment without NOMAD_* variables, so that the
// configuration alone says how to reach the fake agent.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOMAD_") {
			env = append(env, kv)
		}
	}
	return env
}

// reap waits for a process, records when it ended, and records a crash
// when nobody asked it to end.
func (s *supervisor) reap(p *process) {
	err := p.cmd.Wait()
	end := time.Now()
	p.log.Close()
	s.mu.Lock()
	s.runs[p.index].end = end
	s.runs[p.index].killed = p.killed
	s.logf("drover %d ended: %v", p.index, err)
	if !p.expected {
		s.crashes = append(s.crashes, fmt.Sprintf("drover process %d ended by itself (%v); its log ends with:\n%s",
			p.index, err, tailOf(p.logPath, 30)))
	}
	if s.cur == p {
		s.cur = nil
	}
	s.mu.Unlock()
	close(p.exited)
}

// kill ends the running process with SIGKILL: no flush, no checkpoint.
func (s *supervisor) kill() bool {
	p := s.take()
	if p == nil {
		return false
	}
	s.mu.Lock()
	p.killed = true
	s.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	s.mu.Lock()
	s.kills++
	s.mu.Unlock()
	return true
}

// stop ends the running process with SIGTERM and returns its exit code,
// or an error when it does not end within timeout (it is killed then).
func (s *supervisor) stop(timeout time.Duration) (int, error) {
	p := s.take()
	if p == nil {
		return 0, errors.New("no drover process is running")
	}
	s.mu.Lock()
	s.runs[p.index].stopping = time.Now()
	s.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		return -1, fmt.Errorf("drover did not stop within %v of SIGTERM", timeout)
	}
	s.mu.Lock()
	s.stops++
	s.mu.Unlock()
	return p.cmd.ProcessState.ExitCode(), nil
}

// reload rewrites the configuration and sends SIGHUP to a process that
// has started (one still starting reads the new file, or keeps the one it
// read: SIGHUP would end it, as SIGTERM would, see started).
func (s *supervisor) reload(cfg string) error {
	if err := s.writeConfig(cfg); err != nil {
		return err
	}
	p := s.started()
	if p == nil {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return nil // it just ended
	}
	s.mu.Lock()
	s.reloads++
	s.mu.Unlock()
	return nil
}

// take marks the running process as ended on purpose and returns it.
func (s *supervisor) take() *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.cur
	if p != nil {
		p.expected = true
	}
	return p
}

// started returns the running process once it has logged that its
// pipeline runs, nil before. drover catches its signals as the first thing
// its run does (one that arrives while it loads and starts is acted on
// after the start, internal/agent's TestRunStopsCleanlyOnASignalDuringStart),
// but no Go program can catch one in the milliseconds between the exec and
// its main function: the suite signals only processes that have started.
func (s *supervisor) started() *process {
	s.mu.Lock()
	p := s.cur
	ready := p != nil && !s.runs[p.index].ready.IsZero()
	s.mu.Unlock()
	if p == nil || ready {
		return p
	}
	f, err := os.Open(p.logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, startedLine) {
			s.setReady(p.index, line)
			return p
		}
	}
	return nil
}

// upFor reports whether a process runs and started at least d ago.
func (s *supervisor) upFor(d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur != nil && time.Since(s.runs[s.cur.index].start) >= d
}

// running reports whether a process runs.
func (s *supervisor) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur != nil
}

// timeline returns the processes so far.
func (s *supervisor) timeline() []run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]run(nil), s.runs...)
}

// counts returns the kills, clean stops, reloads and crashes so far.
func (s *supervisor) counts() (kills, stops, reloads int, crashes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kills, s.stops, s.reloads, append([]string(nil), s.crashes...)
}

// The nomad_logs source's reports of files deleted before it read them:
// found so (purged while drover was down, or between two scans), or held
// open with lines not delivered when drover stopped.
const (
	lossLine     = "task log files were deleted before drover read them"
	stopLossLine = "drover stops before it delivered all their lines"
)

var attrRe = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S+)`)

// startedLine is what the agent logs once the pipeline runs.
const startedLine = `msg="drover started"`

// scanLogs reads every process's log: drover's reports of lost files, when
// each process had started its pipeline, and what must never appear (a
// data race report, a panic).
func (s *supervisor) scanLogs() (reports []lossReport, alarms []string, err error) {
	s.mu.Lock()
	logs := append([]string(nil), s.logs...)
	s.mu.Unlock()
	for i, path := range logs {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, fmt.Errorf("reading drover's log: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, startedLine) {
				s.setReady(i, line)
			}
			switch {
			case strings.Contains(line, "WARNING: DATA RACE"), strings.HasPrefix(line, "panic:"), strings.HasPrefix(line, "fatal error:"):
				alarms = append(alarms, fmt.Sprintf("%s: %s", filepath.Base(path), line))
			case strings.Contains(line, lossLine), strings.Contains(line, stopLossLine):
				attrs := map[string]string{}
				for _, m := range attrRe.FindAllStringSubmatch(line, -1) {
					v := m[2]
					if u, err := strconv.Unquote(v); err == nil {
						v = u
					}
					attrs[m[1]] = v
				}
				first, err1 := strconv.Atoi(attrs["first_file"])
				last, err2 := strconv.Atoi(attrs["last_file"])
				if err1 != nil || err2 != nil {
					alarms = append(alarms, "unparsable loss report: "+line)
					continue
				}
				reports = append(reports, lossReport{key: attrs["alloc_id"] + "/" + attrs["task"] + "/" + attrs["stream"], first: first, last: last})
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", path, err)
		}
	}
	return reports, alarms, nil
}

// setReady records when process i logged that its pipeline runs, from the
// time of the log line.
func (s *supervisor) setReady(i int, line string) {
	m := attrRe.FindStringSubmatch(line)
	if m == nil || m[1] != "time" {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, m[2])
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < len(s.runs) && s.runs[i].ready.IsZero() {
		s.runs[i].ready = t
	}
}

// tailOf returns the last lines of a file.
func tailOf(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	parts := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
