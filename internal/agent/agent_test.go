package agent

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
)

type nopConfig struct {
	Tag string `hcl:"tag"`
}

func (*nopConfig) Validate() error { return nil }

var sourceBuilds atomic.Int32

type idleSource struct{}

func (idleSource) Run(ctx context.Context, _ component.Emitter) error { <-ctx.Done(); return nil }
func (idleSource) Close(context.Context) error                        { return nil }

type drainSink struct{}

func (drainSink) Run(_ context.Context, in <-chan *event.Batch) error {
	for b := range in {
		b.Ack.Release(event.Delivered)
	}
	return nil
}

func init() {
	component.Register(component.Registration{
		Kind: component.KindSource, Type: "agent_idle",
		NewConfig: func() component.Config { return &nopConfig{} },
		BuildSource: func(component.Context, component.Config) (component.Source, error) {
			sourceBuilds.Add(1)
			return idleSource{}, nil
		},
	})
	component.Register(component.Registration{
		Kind: component.KindSink, Type: "agent_drain",
		NewConfig: func() component.Config { return &nopConfig{} },
		BuildSink: func(component.Context, component.Config) (component.Sink, error) { return drainSink{}, nil },
	})
}

func writeCfg(t *testing.T, path, dataDir, sinkTag string) {
	t.Helper()
	src := `data_dir = "` + dataDir + `"
admin { address = "127.0.0.1:0" }
source "agent_idle" "in" {}
sink "agent_drain" "out" {
  inputs = ["in"]
  tag = "` + sinkTag + `"
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

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

func TestAgentServesAdminReloadsAndLocksDataDir(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "drover.hcl")
	dataDir := filepath.Join(dir, "data")
	writeCfg(t, cfgPath, dataDir, "a")
	opts := Options{ConfigPaths: []string{cfgPath}, LogOutput: io.Discard}
	cfg, err := LoadConfig(opts)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.AdminAddr()
	if code, body := get(t, base+"/ready"); code != 200 || !strings.Contains(body, "ready") {
		t.Errorf("/ready = %d %q", code, body)
	}
	if code, _ := get(t, base+"/health"); code != 200 {
		t.Errorf("/health = %d", code)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d, %d bytes", code, len(body))
	}

	// A second drover on the same data_dir is refused.
	if _, err := Start(cfg, Options{LogOutput: io.Discard}); err == nil || !strings.Contains(err.Error(), "in use by another drover") {
		t.Errorf("second Start on the same data_dir: %v", err)
	}

	// Reload: the source is unchanged and keeps running.
	builds := sourceBuilds.Load()
	writeCfg(t, cfgPath, dataDir, "b")
	a.Reload()
	if sourceBuilds.Load() != builds {
		t.Error("reload rebuilt an unchanged source")
	}
	if a.cfg.Component("out").Config.(*nopConfig).Tag != "b" {
		t.Error("reload did not apply the new sink configuration")
	}
	// An invalid file keeps the running configuration.
	os.WriteFile(cfgPath, []byte("nonsense {"), 0o644)
	a.Reload()
	if a.cfg.Component("out").Config.(*nopConfig).Tag != "b" {
		t.Error("an invalid reload replaced the configuration")
	}
	_, m := get(t, base+"/metrics")
	for _, want := range []string{`drover_config_reloads_total{result="success"} 1`, `drover_config_reloads_total{result="failure"} 1`,
		"drover_config_last_reload_successful 0", `drover_build_info{`, "drover_ready 1",
		`drover_component_health{component_id="out",component_kind="sink",component_type="agent_drain",state="ok"} 1`,
		`drover_component_health{component_id="out",component_kind="sink",component_type="agent_drain",state="failing"} 0`} {
		if !strings.Contains(m, want) {
			t.Errorf("no %s in /metrics", want)
		}
	}
	a.Stop()
	if _, err := http.Get(base + "/health"); err == nil {
		t.Error("admin endpoint still serving after Stop")
	}
	// The lock is free again.
	a2, err := Start(cfg, Options{LogOutput: io.Discard})
	if err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	a2.Stop()
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "drover.hcl")
	writeCfg(t, cfgPath, filepath.Join(dir, "data"), "a")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{ConfigPaths: []string{cfgPath}, LogOutput: io.Discard}) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// A SIGTERM that arrives while drover loads its configuration (here from
// inside the env() lookup the loading makes) stops it cleanly once the
// pipeline has started: without the handler installed first, the signal's
// default action would kill the test binary.
func TestRunStopsCleanlyOnASignalDuringStart(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "drover.hcl")
	writeCfg(t, cfgPath, filepath.Join(dir, "data"), "a")
	src, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(src), `tag = "a"`, `tag = env("DROVER_TEST_TAG")`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	signalled := false
	lookup := func(name string) (string, bool) {
		if name == "DROVER_TEST_TAG" && !signalled {
			signalled = true
			if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
				t.Errorf("kill: %v", err)
			}
		}
		return "a", true
	}
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), Options{ConfigPaths: []string{cfgPath}, LogOutput: io.Discard, LookupEnv: lookup})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after a SIGTERM during its start")
	}
	if !signalled {
		t.Fatal("the configuration was loaded without its env() lookup")
	}
}

func TestRunReportsConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "drover.hcl")
	os.WriteFile(cfgPath, []byte("data_dir = 3\nbogus = true\n"), 0o644)
	err := Run(context.Background(), Options{ConfigPaths: []string{cfgPath}, LogOutput: io.Discard})
	if err == nil || !strings.Contains(err.Error(), cfgPath+":2,1") {
		t.Fatalf("Run with a bad file: %v", err)
	}
	err = Run(context.Background(), Options{ConfigPaths: []string{filepath.Join(dir, "nope.hcl")}, LogOutput: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "nope.hcl") {
		t.Fatalf("Run with a missing file: %v", err)
	}
}

func TestStopSignalsInTheSameInstantAreOne(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var tm terminations
	if first, force := tm.note(t0); !first || force {
		t.Fatal("the first signal asks for a clean stop")
	}
	// timeout(1) signals the child, then the whole group: the same signal
	// again microseconds later.
	if first, force := tm.note(t0.Add(50 * time.Microsecond)); first || force {
		t.Fatal("a signal in the same instant must be taken as the first one")
	}
	if first, force := tm.note(t0.Add(signalCoalesce - time.Millisecond)); first || force {
		t.Fatal("a signal within the coalescing window must be taken as the first one")
	}
	if first, force := tm.note(t0.Add(2 * time.Second)); first || !force {
		t.Fatal("a signal a while later asks to exit at once")
	}
}
