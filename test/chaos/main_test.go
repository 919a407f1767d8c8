// Package chaos is drover's reliability suite: it proves that no
// acknowledged line is ever lost under crashes, outages, rotation storms
// and bad input.
//
// Writers produce uniquely numbered lines into Nomad-shaped allocation
// directories, rotating and purging like logmon, in allocations that
// start, complete and are garbage-collected. The real drover binary ships
// them through the fake Nomad API (internal/nomadtest) to a receiver.
// Meanwhile a fault driver, from a seed it prints, kills drover with
// SIGKILL at random moments, makes the sink refuse connections, fail or
// answer slowly, makes the Nomad API fail, drop blocking queries or go
// down, and reconfigures drover (disk buffer on and off, among others).
// Then the faults stop and drover must catch up. An independent checker
// (checker_test.go), which knows every line written and every event
// received and nothing of drover's code, accepts nothing less than every
// line that drover could have read.
//
//	go test -run TestChaos -v ./test/chaos/                       # short, as in CI
//	CHAOS_DURATION=10m go test -run TestChaos -v -timeout 30m ./test/chaos/
//	make chaos DURATION=10m [SEED=...]
//
// Environment: CHAOS_DURATION (the fault phase, default 20s), CHAOS_SEED
// (replays a run), CHAOS_RATE (lines per second of a task's stdout,
// default 40), CHAOS_RACE=1 (build drover with the race detector),
// CHAOS_MIN_KILLS (fail with fewer SIGKILLs), CHAOS_KEEP=1 (keep the
// configurations, drover's logs and the log files), CHAOS_SUMMARY (a
// file to write the summary line to), CHAOS_LOG_LEVEL (drover's log
// level, default info).
package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/nomadtest"
)

var droverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "drover-chaos-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	droverBin = filepath.Join(dir, "drover")
	args := []string{"build", "-o", droverBin}
	env := append(os.Environ(), "CGO_ENABLED=0")
	if os.Getenv("CHAOS_RACE") == "1" {
		args = append(args, "-race")
		env = append(os.Environ(), "CGO_ENABLED=1")
	}
	build := exec.Command("go", append(args, "github.com/drover-dev/drover/cmd/drover")...)
	build.Stdout, build.Stderr, build.Env = os.Stderr, os.Stderr, env
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building drover:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// options of one run, from the environment.
type options struct {
	duration time.Duration
	seed     uint64
	rate     int
	minKills int
}

func optionsFromEnv(t *testing.T) options {
	o := options{duration: 20 * time.Second, seed: rand.Uint64() >> 1, rate: 40}
	if v := os.Getenv("CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("CHAOS_DURATION=%q: want a positive duration such as 10m", v)
		}
		o.duration = d
	}
	for name, p := range map[string]*int{"CHAOS_RATE": &o.rate, "CHAOS_MIN_KILLS": &o.minKills} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				t.Fatalf("%s=%q: want a number", name, v)
			}
			*p = n
		}
	}
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: want a number", v)
		}
		o.seed = s
	}
	return o
}

// TestChaos runs the suite for CHAOS_DURATION (default 20s) of faults,
// then checks liveness and the verdict.
func TestChaos(t *testing.T) {
	o := optionsFromEnv(t)
	t.Logf("chaos: seed %d, %v of faults; replay with CHAOS_SEED=%d CHAOS_DURATION=%v", o.seed, o.duration, o.seed, o.duration)
	// The work directory is kept when the run fails (or with CHAOS_KEEP=1):
	// drover's logs, the suite's events.log and the files are what a
	// failure is diagnosed from.
	work, err := os.MkdirTemp("", "drover-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("CHAOS_KEEP") == "1" {
			t.Logf("chaos: the configurations, drover's logs, events.log and the files are kept in %s", work)
			return
		}
		_ = os.RemoveAll(work)
	})
	allocDir := filepath.Join(work, "nomad", "alloc")
	if err := os.MkdirAll(allocDir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := nomadtest.New(t)
	agent := srv.Agent()
	agent.DataDir, agent.AllocDir = filepath.Dir(allocDir), allocDir
	srv.SetAgent(agent)

	chk := newChecker(o.seed, agent.NodeID)
	recv, err := newReceiver(splitJoined(chk.observe), chk.fail)
	if err != nil {
		t.Fatal(err)
	}
	defer recv.close()
	sup := newSupervisor(droverBin, work)
	e := env{dataDir: filepath.Join(work, "data"), allocDir: allocDir, nomadAddr: srv.URL(), nodeID: agent.NodeID, sinkURL: recv.url(), logLevel: "info"}
	if v := os.Getenv("CHAOS_LOG_LEVEL"); v != "" {
		e.logLevel = v
	}

	events, err := newEventLog(filepath.Join(work, "events.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer events.close()
	sup.logf = events.logf
	render := func(rng *rand.Rand, disk bool) string {
		v := pickVariant(rng, disk)
		events.logf("configuration: %s", v)
		return v.render(e)
	}
	w := newWorld(worldOptions{seed: o.seed, allocDir: allocDir, rate: o.rate, churnEvery: 3 * time.Second, maxChurn: 6}, srv, chk, chk.fail, events.logf)
	if err := w.start(); err != nil {
		t.Fatal(err)
	}
	defer w.finish()
	rng := rand.New(rand.NewPCG(o.seed, 0))
	if err := sup.start(render(rng, false)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.kill() })

	// The fault phase.
	f := &faults{
		o:   faultOptions{seed: o.seed, killEvery: 3 * time.Second, sinkEvery: 5 * time.Second, apiEvery: 6 * time.Second, reloadEvery: 20 * time.Second},
		sup: sup, recv: recv, srv: srv,
		cfg:  func(rng *rand.Rand) string { return render(rng, false) },
		fail: chk.fail, logf: events.logf,
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	f.run(ctx)
	cancel()

	// Liveness: the writers finish, the faults are gone, a last drover
	// process (with a disk buffer, so that it also delivers what earlier
	// disk-buffered processes left) must deliver every line.
	w.finish()
	sup.kill()
	catchUpFrom := time.Now()
	if err := sup.start(render(rng, true)); err != nil {
		t.Fatal(err)
	}
	liveness := 60*time.Second + o.duration/10
	var reports []lossReport
	deadline := time.Now().Add(liveness)
	for {
		var alarms []string
		reports, alarms, err = sup.scanLogs()
		if err != nil {
			t.Fatal(err)
		}
		if len(alarms) > 0 {
			t.Fatalf("drover reported:\n%s", strings.Join(alarms, "\n"))
		}
		if chk.missing(sup.timeline(), reports) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drover did not catch up within %v after the faults stopped; lines still missing:\n%s",
				liveness, chk.lostByStream(sup.timeline(), reports))
		}
		time.Sleep(500 * time.Millisecond)
	}
	catchUp := time.Since(catchUpFrom)
	if code, err := sup.stop(30 * time.Second); err != nil || code != 0 {
		t.Errorf("the last drover process stopped with exit code %d, %v", code, err)
	}

	reports, alarms, err := sup.scanLogs()
	if err != nil {
		t.Fatal(err)
	}
	v := chk.verdict(sup.timeline(), reports, true)
	kills, stops, reloads, crashes := sup.counts()
	sinkOut, apiOut := f.outages()
	requests, _ := recv.stats()
	allocs, completed, gced := w.counts()
	summary := fmt.Sprintf("chaos summary: seed=%d duration=%v written=%d delivered=%d lost=%d excused=%d (purged=%d gc=%d) "+
		"duplicated=%d fragments=%d bad=%d events=%d requests=%d kills=%d stops=%d reloads=%d sink_outages=%d api_outages=%d "+
		"allocs=%d completed=%d gc=%d catch_up=%v",
		o.seed, o.duration, v.written, v.delivered, v.lost, v.purged+v.gced, v.purged, v.gced,
		v.duplicates, v.fragments, v.bad, v.events, requests, kills, stops, reloads, sinkOut, apiOut,
		allocs, completed, gced, catchUp.Round(100*time.Millisecond))
	t.Log(summary)
	for k, n := range v.excusedBy {
		t.Logf("excused: %d lines of %s", n, k)
	}
	if path := os.Getenv("CHAOS_SUMMARY"); path != "" {
		if err := os.WriteFile(path, []byte(summary+"\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, c := range crashes {
		t.Errorf("%s", c)
	}
	for _, a := range alarms {
		t.Errorf("drover reported: %s", a)
	}
	for _, p := range v.problems {
		t.Errorf("%s", p)
	}
	if v.lost > 0 {
		t.Errorf("%d lines lost; the first:\n%s", v.lost, strings.Join(v.firstLost, "\n"))
	}
	if v.bad > len(v.problems) {
		t.Errorf("%d events that must not exist (the first %d above)", v.bad, len(v.problems))
	}
	if kills < o.minKills {
		t.Errorf("%d SIGKILLs, fewer than CHAOS_MIN_KILLS=%d", kills, o.minKills)
	}
	if v.written == 0 || v.delivered == 0 {
		t.Errorf("nothing written or delivered")
	}
}
