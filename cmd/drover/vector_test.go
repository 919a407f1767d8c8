package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/drover-dev/drover/internal/nomadtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// vectorConfig writes a configuration file for the fake agent.
func vectorConfig(t *testing.T, srv *nomadtest.Server, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vector.hcl")
	src := `vector {
  nomad { address = "` + srv.URL() + `" }
  blocking_wait         = "100ms"
  retry_initial_backoff = "5ms"
  retry_max_backoff     = "20ms"
` + extra + `}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVectorRender(t *testing.T) {
	srv := nomadtest.New(t)
	srv.LoadFixture(nomadtest.FixtureNodeAllocations)
	out := filepath.Join(t.TempDir(), "drover.d")
	cfg := vectorConfig(t, srv, `  format = "yaml"`+"\n")
	var stdout, stderr bytes.Buffer
	code := runVector(context.Background(), []string{"render", "--config", cfg, "--out", out, "--timeout", "10s"}, &stdout, &stderr, nil)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, &stderr)
	}
	if want := out + ": 3 files (3 written, 0 removed)\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", &stdout, want)
	}
	files, _ := filepath.Glob(filepath.Join(out, "drover_nomad_*.yaml"))
	if len(files) != 3 {
		t.Errorf("files: %v", files)
	}
}

func TestVectorWatch(t *testing.T) {
	srv := nomadtest.New(t)
	srv.LoadFixture(nomadtest.FixtureNodeAllocations)
	out := t.TempDir()
	cfg := vectorConfig(t, srv, "  out_dir = "+`"`+out+`"`+"\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stdout, stderr syncBuffer
	go func() { done <- runVector(ctx, []string{"watch", "--config", cfg}, &stdout, &stderr, nil) }()
	waitFiles(t, out, 3, &stderr)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not stop")
	}
	if !strings.Contains(stderr.String(), "Vector configuration updated") {
		t.Errorf("no log of the update:\n%s", stderr.String())
	}
}

// SIGHUP loads the configuration again: a valid one restarts the watch
// with it, an invalid one is refused and the running watch goes on.
func TestVectorWatchReload(t *testing.T) {
	srv := nomadtest.New(t)
	srv.LoadFixture(nomadtest.FixtureNodeAllocations)
	first, second := t.TempDir(), t.TempDir()
	cfg := vectorConfig(t, srv, "  out_dir = \""+first+"\"\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan os.Signal, 1)
	done := make(chan int, 1)
	var stdout, stderr syncBuffer
	go func() { done <- runVector(ctx, []string{"watch", "--config", cfg}, &stdout, &stderr, reload) }()
	waitFiles(t, first, 3, &stderr)

	if err := os.WriteFile(cfg, []byte("vector {\n  format = \"json\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reload <- syscall.SIGHUP
	waitLog(t, &stderr, "configuration not reloaded")

	src := strings.Replace(mustRead(t, vectorConfig(t, srv, "")), "vector {", "vector {\n  out_dir = \""+second+"\"", 1)
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	reload <- syscall.SIGHUP
	waitFiles(t, second, 3, &stderr)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not stop")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFiles waits until dir holds n of drover's TOML files.
func waitFiles(t *testing.T, dir string, n int, logs *syncBuffer) {
	t.Helper()
	waitCond(t, "files in "+dir, logs, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "drover_nomad_*.toml"))
		return len(files) == n
	})
}

func waitLog(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	waitCond(t, "the log "+want, logs, func() bool { return strings.Contains(logs.String(), want) })
}

func waitCond(t *testing.T, what string, logs *syncBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; stderr:\n%s", what, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestVectorUsageErrors(t *testing.T) {
	srv := nomadtest.New(t)
	bad := filepath.Join(t.TempDir(), "bad.hcl")
	if err := os.WriteFile(bad, []byte("vector {\n  out_dir = \"/x\"\n  format = \"json\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"render", "--nope"}, 2, "flag provided but not defined"},
		{[]string{"watch", "--timeout", "1s"}, 2, "flag provided but not defined"},
		{[]string{"render", "extra"}, 2, "unexpected arguments: extra"},
		{[]string{"render"}, 1, "out_dir"},
		{[]string{"render", "--config", bad}, 1, bad + ":3,"},
		{[]string{"render", "--config", bad + ".missing"}, 1, "reading configuration"},
		{[]string{"render", "--config", vectorConfig(t, srv, "  out_dir = \"relative\"\n")}, 1, "absolute"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := runVector(context.Background(), c.args, &stdout, &stderr, nil)
		if code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, &stderr, c.code, c.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"vector", "help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "drover vector render") {
		t.Errorf("vector help: %d %q", code, &stdout)
	}
	stdout.Reset()
	if code := run([]string{"help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "drover vector render|watch") {
		t.Errorf("help does not list the vector command: %q", &stdout)
	}
}

// A Nomad agent that refuses the token: render exits 1 and says why.
func TestVectorRenderForbidden(t *testing.T) {
	srv := nomadtest.New(t)
	srv.RequireToken("secret")
	var stdout, stderr bytes.Buffer
	code := runVector(context.Background(), []string{"render", "--config", vectorConfig(t, srv, ""), "--out", t.TempDir()}, &stdout, &stderr, nil)
	if code != 1 || !strings.Contains(stderr.String(), "permission denied") || !strings.Contains(stderr.String(), "agent:read") {
		t.Errorf("exit %d, stderr %q", code, &stderr)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in two
// goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
