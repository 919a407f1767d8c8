package vector

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/nomadtest"
)

// The watch follows the node: every listed allocation with selected tasks
// gets a file at once, terminal and batch ones included; a short batch
// allocation that appears already complete is not missed; one whose tasks
// are no longer selected loses its file at once; the user's files are
// never touched.
func TestWatchFollowsAllocations(t *testing.T) {
	srv := nomadtest.New(t)
	srv.LoadFixture(nomadtest.FixtureNodeAllocations)
	dir := t.TempDir()
	seedUserFiles(t, dir)
	cfg := serverConfig(srv, dir)
	cfg.StoppedGrace = time.Hour
	n := cfg.Names()
	w := startWatch(t, cfg)

	first := w.next()
	if first.err != nil {
		t.Fatal(first.err)
	}
	want := []string{n.AllocFile(idBatch, "toml"), n.AllocFile(idSleeper, "toml"), n.AllocFile(idLogspam, "toml")}
	slices.Sort(want)
	if !slices.Equal(first.rep.Files, want) {
		t.Fatalf("files after the first full set: %v, want %v", first.rep.Files, want)
	}
	checkUserFiles(t, dir)
	vf := parseVectorFile(t, FormatTOML, []byte(readFile(t, dir, n.AllocFile(idLogspam, "toml"))))
	if _, ok := vf.Transforms[n.Transform(idLogspam, "spam")]; !ok {
		t.Errorf("logspam transform missing: %v", vf.Transforms)
	}

	// A batch allocation that completed before anyone looked.
	const idShort = "5bad0000-0000-4000-8000-000000000001"
	srv.AddAlloc(nomadtest.Alloc{ID: idShort, Job: "once", JobType: "batch", ClientStatus: "complete", Tasks: []nomadtest.Task{{Name: "run"}}})
	w.until("the short batch allocation's file", func(f []string) bool { return has(f, n.AllocFile(idShort, "toml")) })

	// Tasks no longer selected: the file goes at once, grace or not.
	const idWeb = "3eb00000-0000-4000-8000-000000000002"
	srv.AddAlloc(nomadtest.Alloc{ID: idWeb, Namespace: "edge", Job: "web", Tasks: []nomadtest.Task{{Name: "api"}, {Name: "api-proxy"}}})
	w.until("the web allocation's file", func(f []string) bool { return has(f, n.AllocFile(idWeb, "toml")) })
	srv.UpdateAlloc(idWeb, func(a *nomadtest.Alloc) { a.JobMeta = map[string]string{nomad.EnabledMetaKey: "false"} })
	s := w.until("the unselected allocation's file to go", func(f []string) bool { return !has(f, n.AllocFile(idWeb, "toml")) })
	if !slices.Equal(s.rep.Removed, []string{n.AllocFile(idWeb, "toml")}) {
		t.Errorf("removed %v", s.rep.Removed)
	}
	checkUserFiles(t, dir)
}

// A terminal allocation keeps its file for stopped_grace, then loses it;
// so does a garbage-collected one; with no allocation left the placeholder
// takes their place.
func TestWatchStoppedGrace(t *testing.T) {
	srv := nomadtest.New(t)
	const idRun = "a110c000-0000-4000-8000-000000000001"
	const idGC = "a110c000-0000-4000-8000-000000000002"
	srv.AddAlloc(nomadtest.Alloc{ID: idRun, Namespace: "apps", Job: "api"})
	srv.AddAlloc(nomadtest.Alloc{ID: idGC, Namespace: "apps", Job: "worker"})
	dir := t.TempDir()
	cfg := serverConfig(srv, dir)
	cfg.StoppedGrace = 300 * time.Millisecond
	n := cfg.Names()
	w := startWatch(t, cfg)
	fileRun, fileGC, placeholder := n.AllocFile(idRun, "toml"), n.AllocFile(idGC, "toml"), n.PlaceholderFile("toml")
	w.until("both files", func(f []string) bool { return has(f, fileRun, fileGC) })

	stopped := time.Now()
	srv.SetAllocStatus(idRun, "complete", "stop")
	srv.RemoveAlloc(idGC)
	s := w.next()
	if s.err != nil || !has(s.rep.Files, fileRun, fileGC) || len(s.rep.Removed) != 0 {
		t.Fatalf("right after the stop both files must stay: %+v %v", s.rep, s.err)
	}
	s = w.until("the files to go after the grace period", func(f []string) bool { return !has(f, fileRun) && !has(f, fileGC) })
	if took := s.at.Sub(stopped); took < cfg.StoppedGrace {
		t.Errorf("files removed %v after the stop, before the grace period of %v", took, cfg.StoppedGrace)
	}
	if !slices.Equal(s.rep.Files, []string{placeholder}) {
		t.Errorf("files %v, want only the placeholder", s.rep.Files)
	}
	if !strings.Contains(w.logs.String(), "grace period ended") {
		t.Errorf("no log of the end of the grace period:\n%s", w.logs)
	}

	// A new allocation replaces the placeholder.
	const idNew = "a110c000-0000-4000-8000-000000000003"
	srv.AddAlloc(nomadtest.Alloc{ID: idNew})
	s = w.until("the new file", func(f []string) bool { return has(f, n.AllocFile(idNew, "toml")) })
	if has(s.rep.Files, placeholder) {
		t.Errorf("placeholder kept beside an allocation: %v", s.rep.Files)
	}
}

// At start, drover's files of allocations that are not listed any more
// stay for the grace period, unchanged; leftovers of interrupted writes
// and a placeholder that is not needed go; the user's files stay.
func TestWatchStartsFromExistingFiles(t *testing.T) {
	srv := nomadtest.New(t)
	srv.LoadFixture(nomadtest.FixtureNodeAllocations)
	dir := t.TempDir()
	seedUserFiles(t, dir)
	cfg := serverConfig(srv, dir)
	cfg.StoppedGrace = 300 * time.Millisecond
	n := cfg.Names()
	const idOld = "01d00000-0000-4000-8000-000000000001"
	writeFile(t, dir, n.AllocFile(idOld, "toml"), "# written by an earlier run\n")
	writeFile(t, dir, "."+n.AllocFile(idOld, "toml")+".tmp-99", "partial")
	writeFile(t, dir, n.PlaceholderFile("toml"), "# placeholder of an earlier run\n")
	writeFile(t, dir, n.AllocFile(idLogspam, "yaml"), "# the same allocation in the format of an earlier run\n")

	started := time.Now()
	w := startWatch(t, cfg)
	first := w.next()
	if first.err != nil {
		t.Fatal(first.err)
	}
	if !has(first.rep.Files, n.AllocFile(idOld, "toml"), n.AllocFile(idLogspam, "toml")) ||
		has(first.rep.Files, n.PlaceholderFile("toml"), n.AllocFile(idLogspam, "yaml")) {
		t.Fatalf("files after start: %v", first.rep.Files)
	}
	if got := readFile(t, dir, n.AllocFile(idOld, "toml")); got != "# written by an earlier run\n" {
		t.Errorf("a kept file was rewritten: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "."+n.AllocFile(idOld, "toml")+".tmp-99")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary leftover still there: %v", err)
	}
	s := w.until("the old allocation's file to go", func(f []string) bool { return !has(f, n.AllocFile(idOld, "toml")) })
	if s.at.Sub(started) < cfg.StoppedGrace {
		t.Errorf("the old file went before the grace period")
	}
	checkUserFiles(t, dir)
}

// Before the first full set nothing changes: a 403 ends Watch with the
// error and the directory as it was.
func TestWatchForbidden(t *testing.T) {
	srv := nomadtest.New(t)
	srv.RequireToken("secret")
	dir := t.TempDir()
	seedUserFiles(t, dir)
	cfg := serverConfig(srv, dir)
	n := cfg.Names()
	writeFile(t, dir, n.AllocFile(idA, "toml"), "# earlier\n")
	opts, syncs, _ := testOptions(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	err := Watch(ctx, opts)
	var ae *nomad.APIError
	if !errors.As(err, &ae) || ae.Kind != nomad.KindForbidden {
		t.Fatalf("err = %v", err)
	}
	if len(syncs) != 0 {
		t.Errorf("the directory was synced before the first full set")
	}
	if readFile(t, dir, n.AllocFile(idA, "toml")) != "# earlier\n" {
		t.Error("drover's file changed before the first full set")
	}
	checkUserFiles(t, dir)
}

// A change of the directory that fails is logged and tried again.
func TestWatchRetriesFailedChanges(t *testing.T) {
	old := retryDelay
	retryDelay = 50 * time.Millisecond
	t.Cleanup(func() { retryDelay = old })

	srv := nomadtest.New(t)
	const id = "b10c0000-0000-4000-8000-000000000001"
	srv.AddAlloc(nomadtest.Alloc{ID: id})
	dir := t.TempDir()
	cfg := serverConfig(srv, dir)
	name := cfg.Names().AllocFile(id, "toml")
	// A directory in the file's place: the rename fails.
	block := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Join(block, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, cfg)
	if s := w.next(); s.err == nil {
		t.Fatalf("first sync succeeded: %+v", s.rep)
	}
	if s := w.next(); s.err == nil {
		t.Fatalf("the retry succeeded while the obstacle is there: %+v", s.rep)
	}
	if err := os.RemoveAll(block); err != nil {
		t.Fatal(err)
	}
	w.until("the file after the obstacle went", func(f []string) bool { return has(f, name) })
	if !strings.Contains(w.logs.String(), "retrying") {
		t.Errorf("failure not logged:\n%s", w.logs)
	}
}

func TestWatchStopsOnCancel(t *testing.T) {
	srv := nomadtest.New(t)
	cfg := serverConfig(srv, t.TempDir())
	opts, syncs, _ := testOptions(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, opts) }()
	select {
	case s := <-syncs: // the first full set: no allocation, the placeholder
		if !slices.Equal(s.rep.Files, []string{cfg.Names().PlaceholderFile("toml")}) {
			t.Errorf("files %v", s.rep.Files)
		}
	case <-time.After(testDeadline):
		t.Fatal("no first sync")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch returned %v", err)
		}
	case <-time.After(testDeadline):
		t.Fatal("Watch did not return")
	}
}
