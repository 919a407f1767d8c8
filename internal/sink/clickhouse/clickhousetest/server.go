// Package clickhousetest runs a real ClickHouse server for tests: the
// clickhouse-server binary of Debian's package, started on a loopback port
// with its own configuration and data in a temporary directory (never the
// system service).
//
// A test package starts one server for all its tests: its TestMain calls
// Main, and each test that needs the server calls Require. A test that
// needs a server of its own (to stop and restart it) calls Start.
//
// When the binary is missing, Require and Start fail the test: CI installs
// it (scripts/test). DROVER_SKIP_CLICKHOUSE=1 skips those tests instead,
// for machines without the package; DROVER_CLICKHOUSE_SERVER names a
// binary elsewhere.
package clickhousetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables read by the package.
const (
	// EnvSkip, set to 1, skips the tests that need a server.
	EnvSkip = "DROVER_SKIP_CLICKHOUSE"
	// EnvBinary names the clickhouse-server binary to run.
	EnvBinary = "DROVER_CLICKHOUSE_SERVER"
)

// User and Password are a second user of every server, besides "default"
// (which has no password), for authentication tests.
const (
	User     = "drover"
	Password = "drover-secret"
)

// startTimeout bounds a server's start.
const startTimeout = 60 * time.Second

// Server is a running ClickHouse server.
type Server struct {
	// URL is the HTTP interface: http://127.0.0.1:<port>.
	URL string
	// Version is the server's version ("18.16.1").
	Version string

	bin, dir string
	port     int
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	output   *bytes.Buffer
}

// Binary returns the path of the clickhouse-server binary: EnvBinary, or
// clickhouse-server in PATH or in /usr/sbin.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("clickhouse-server"); err == nil {
		return p, nil
	}
	const sbin = "/usr/sbin/clickhouse-server"
	if _, err := os.Stat(sbin); err == nil {
		return sbin, nil
	}
	return "", errors.New("clickhouse-server not found (install Debian's clickhouse-server package, set " +
		EnvBinary + ", or set " + EnvSkip + "=1 to skip the tests that need it)")
}

// Skipped reports whether EnvSkip asks to skip the server tests.
func Skipped() bool { return os.Getenv(EnvSkip) == "1" }

// NewServer starts a server in a new temporary directory on a free
// loopback port and waits until it answers. Close stops it and removes
// the directory.
func NewServer() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "drover-clickhouse-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	var lastErr error
	for range 3 { // a port picked as free can be taken before the server binds it
		if s.port, err = freePort(); err != nil {
			break
		}
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	if err == nil {
		err = lastErr
	}
	os.RemoveAll(dir)
	return nil, err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start writes the configuration, runs the binary and waits until the
// server answers.
func (s *Server) start() error {
	if err := s.writeConfig(); err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd.Dir = s.dir
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: out}, &lockedWriter{w: out}
	// The server dies with the test process, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited, s.output = cmd, exited, out
	s.mu.Unlock()
	s.URL = fmt.Sprintf("http://127.0.0.1:%d", s.port)

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("%s exited at start: %s", s.bin, tail(out))
		default:
		}
		if v, err := s.Query("SELECT version()"); err == nil {
			s.Version = strings.TrimSpace(v)
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("%s did not answer within %s: %s", s.bin, startTimeout, tail(out))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes p under the lock: the server writes to stdout and stderr
// from two goroutines.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func tail(b *bytes.Buffer) string {
	s := b.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// writeConfig writes config.xml and users.xml into the server's directory.
// LowCardinality is allowed on servers where it is still experimental.
func (s *Server) writeConfig() error {
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	cfg := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>%d</http_port>
  <path>%[2]s/data/</path>
  <tmp_path>%[2]s/tmp/</tmp_path>
  <user_files_path>%[2]s/user_files/</user_files_path>
  <format_schema_path>%[2]s/format_schemas/</format_schema_path>
  <users_config>%[2]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <timezone>UTC</timezone>
</yandex>
`, s.port, s.dir)
	users := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <profiles>
    <default><allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type></default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <%[1]s>
      <password>%[2]s</password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </%[1]s>
  </users>
  <quotas><default></default></quotas>
</yandex>
`, User, Password)
	if err := os.WriteFile(filepath.Join(s.dir, "config.xml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, "users.xml"), []byte(users), 0o644)
}

// queryClient keeps no idle connections, so that tests checking for
// leaked goroutines find none of its own.
var queryClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// Query runs a statement as the default user and returns its output. It
// runs in one thread (max_threads=1), so that the rows of Memory and Log
// tables come out in the order they were inserted.
func (s *Server) Query(q string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/?max_threads=1", strings.NewReader(q))
	if err != nil {
		return "", err
	}
	resp, err := queryClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("query %q: HTTP %d: %s", q, resp.StatusCode, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// MustQuery is Query that fails the test on error.
func (s *Server) MustQuery(t testing.TB, q string) string {
	t.Helper()
	out, err := s.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Lines runs a query and returns its output lines (TabSeparated rows).
func (s *Server) Lines(t testing.TB, q string) []string {
	t.Helper()
	out := strings.TrimRight(s.MustQuery(t, q+" FORMAT TabSeparated"), "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// Stop kills the server; its data stays for Restart.
func (s *Server) Stop() {
	s.kill()
}

// Restart starts a stopped server again on the same port with the same
// data.
func (s *Server) Restart() error {
	var err error
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond) // the port may still be held by the old process
	}
	return err
}

func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// Close stops the server and removes its directory.
func (s *Server) Close() {
	s.kill()
	os.RemoveAll(s.dir)
}

// Start starts a server for one test and stops it when the test ends. It
// skips the test when EnvSkip is set and fails it when the server cannot
// start.
func Start(t testing.TB) *Server {
	t.Helper()
	if Skipped() {
		t.Skipf("%s=1: skipping a test that needs a ClickHouse server", EnvSkip)
	}
	s, err := NewServer()
	if err != nil {
		t.Fatalf("ClickHouse server: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Require returns the test package's shared server, starting it on first
// use. It skips the test when EnvSkip is set and fails it when the server
// cannot start. The package's TestMain must call Main.
func Require(t testing.TB) *Server {
	t.Helper()
	if Skipped() {
		t.Skipf("%s=1: skipping a test that needs a ClickHouse server", EnvSkip)
	}
	shared.once.Do(func() { shared.srv, shared.err = NewServer() })
	if shared.err != nil {
		t.Fatalf("ClickHouse server: %v", shared.err)
	}
	return shared.srv
}

// Main runs the tests of a package and stops its shared server, if one
// was started. Use it as os.Exit(clickhousetest.Main(m)) in TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Close()
	}
	return code
}

// Database creates a fresh database named after the test and returns its
// name; it is dropped when the test ends.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	name := "t_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 100 {
		name = name[:100]
	}
	name = fmt.Sprintf("%s_%d", name, time.Now().UnixNano()%1e9)
	s.MustQuery(t, "CREATE DATABASE "+name)
	t.Cleanup(func() { _, _ = s.Query("DROP DATABASE IF EXISTS " + name) })
	return name
}
