package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a running drover.
type process struct {
	cmd    *exec.Cmd
	log    *os.File
	admin  string // host:port of the admin endpoint
	exited chan struct{}
	err    error
}

var adminLine = regexp.MustCompile(`admin endpoint listening"? address=(\S+)`)

// startDrover runs bin with the configuration file cfg, its standard error
// going to logPath, and waits until the admin endpoint answers /ready.
func startDrover(ctx context.Context, bin, cfg, logPath string) (*process, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating drover's log file: %w", err)
	}
	addr := make(chan string, 1)
	p := &process{log: log, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "run", "--config", cfg)
	p.cmd.Stdout = log
	p.cmd.Stderr = &watchWriter{w: log, re: adminLine, found: addr}
	if err := p.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	select {
	case p.admin = <-addr:
	case <-p.exited:
		return nil, fmt.Errorf("drover exited at start (%v); see %s", p.err, logPath)
	case <-time.After(30 * time.Second):
		p.kill()
		return nil, fmt.Errorf("drover did not report its admin endpoint within 30s; see %s", logPath)
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.admin + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("drover not ready within 30s; see %s", logPath)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pid is drover's process id.
func (p *process) Pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits up to 60s, then kills.
func (p *process) stop() error {
	defer p.log.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.kill()
		return errors.New("drover did not stop within 60s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("drover exited with status %d", code)
	}
	return nil
}

func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// metric sums the samples of a Prometheus metric of the admin endpoint.
func (p *process) metric(name string) (float64, error) {
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("reading drover's metrics: %w", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			sum += v
		}
	}
	return sum, sc.Err()
}

// cpuProfile takes a CPU profile of seconds through the admin endpoint's
// /debug/pprof/profile and writes it to path.
func (p *process) cpuProfile(seconds int, path string) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.admin, seconds))
	if err != nil {
		return fmt.Errorf("taking a CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("taking a CPU profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing the CPU profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("writing the CPU profile: %w", err)
	}
	return f.Close()
}

// watchWriter passes writes on to w and sends the first submatch of re
// found in them, line by line, to found (once).
type watchWriter struct {
	w     io.Writer
	re    *regexp.Regexp
	found chan<- string

	mu   sync.Mutex
	line []byte
	done bool
}

func (ww *watchWriter) Write(p []byte) (int, error) {
	ww.mu.Lock()
	if !ww.done {
		ww.line = append(ww.line, p...)
		for {
			i := strings.IndexByte(string(ww.line), '\n')
			if i < 0 {
				break
			}
			if m := ww.re.FindSubmatch(ww.line[:i]); m != nil {
				ww.found <- string(m[1])
				ww.done, ww.line = true, nil
				break
			}
			ww.line = ww.line[i+1:]
		}
	}
	ww.mu.Unlock()
	return ww.w.Write(p)
}
