package follow

import (
	"compress/gzip"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/tail"
)

func kubeTarget(dir string) discovery.Target {
	return discovery.Target{Key: "uid/app", Dir: dir, Name: "app", Scheme: discovery.Kubernetes, Compressed: discovery.ReadCompressed,
		Meta: event.NewMeta("test", nil), Attrs: []slog.Attr{slog.String("container", "app")}}
}

func fingerprintOf(t *testing.T, path string) tail.Fingerprint {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := tail.IDOf(fi)
	fp, err := tail.ReadFingerprint(f, id)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

func gzipFile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(path + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(out)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// The saved position of a Kubernetes target names the files after its
// own that the chain read and the sink did not acknowledge yet: their
// names and fingerprints (the renamed name once the kubelet rotated one).
func TestKubePositionNamesTheUnacknowledgedLaterFiles(t *testing.T) {
	w := newWorld(t)
	appendTo(t, filepath.Join(w.dir, "0.log"), "a1\n")
	appendTo(t, filepath.Join(w.dir, "1.log"), "b1\n")
	w.start()
	w.out.setBlocked(true)
	w.disc.Send(discovery.Group{Key: "uid", Targets: []discovery.Target{kubeTarget(w.dir)}})
	want := fingerprintOf(t, filepath.Join(w.dir, "1.log"))
	if err := os.Rename(filepath.Join(w.dir, "1.log"), filepath.Join(w.dir, "1.log.20261207-000000")); err != nil {
		t.Fatal(err)
	}
	appendTo(t, filepath.Join(w.dir, "1.log"), "b2\n")
	waitFor(t, "a position naming the later files", func() bool {
		p, ok := w.store.position("uid/app")
		return ok && p.File == 0 && len(p.Later) == 2 && p.Later[0].Name == "1.log.20261207-000000" &&
			p.Later[0].Fingerprint == want && p.Later[1].Name == "1.log"
	})
	w.out.setBlocked(false)
	waitFor(t, "every line", func() bool { return w.out.n("a1") == 1 && w.out.n("b1") == 1 && w.out.n("b2") == 1 })
	waitFor(t, "a position without later files once everything is acknowledged", func() bool {
		p, ok := w.store.position("uid/app")
		return ok && len(p.Later) == 0
	})
}

// A start from a saved position reports, once, the files after it that
// the position names and that the kubelet removed meanwhile; not those
// renamed (found by identity and head) nor those compressed (found by the
// head of their decompressed content, and read).
func TestKubeStartReportsTheLaterFilesRemovedMeanwhile(t *testing.T) {
	w := newWorld(t)
	path := func(name string) string { return filepath.Join(w.dir, name) }
	appendTo(t, path("0.log"), "a1\n")
	appendTo(t, path("1.log"), "b1\n")
	appendTo(t, path("2.log"), "c1\n")
	appendTo(t, path("3.log"), "d1\n")
	fps := map[string]tail.Fingerprint{}
	for _, n := range []string{"0.log", "1.log", "2.log", "3.log"} {
		fps[n] = fingerprintOf(t, path(n))
	}
	// While drover was not running: 1.log rotated (renamed), 2.log rotated
	// and compressed, 3.log rotated and removed; 4.log is new.
	if err := os.Rename(path("1.log"), path("1.log.20261207-000000")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path("2.log"), path("2.log.20261207-000000")); err != nil {
		t.Fatal(err)
	}
	gzipFile(t, path("2.log.20261207-000000"))
	if err := os.Remove(path("3.log")); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path("4.log"), "e1\n")
	last := uint64(3)
	w.store.saved = []Position{{Key: "uid/app", File: 0, Path: path("0.log"), Fingerprint: fps["0.log"], AtEnd: &no, LastFile: &last,
		Later: []LaterFile{{Name: "1.log", Fingerprint: fps["1.log"]}, {Name: "2.log", Fingerprint: fps["2.log"]}, {Name: "3.log", Fingerprint: fps["3.log"]}}}}
	w.store.saves = 1
	w.start()
	w.disc.Send(discovery.Group{Key: "uid", Targets: []discovery.Target{kubeTarget(w.dir)}})
	waitFor(t, "the lines of the files still there", func() bool {
		return w.out.n("a1") == 1 && w.out.n("b1") == 1 && w.out.n("c1") == 1 && w.out.n("e1") == 1
	})
	waitFor(t, "a position past the start", func() bool { p, ok := w.store.position("uid/app"); return ok && p.File > 0 })
	w.stop()
	w.stop = nil
	logs := w.logs.String()
	const report = `reason="removed while drover was not running, after the file of the saved position" files=[3.log]`
	if strings.Count(logs, report) != 1 {
		t.Fatalf("want one report of 3.log:\n%s", logs)
	}
	if got := testutil.ToFloat64(w.f.losses.Counter(tail.LostPurged)); got != 1 {
		t.Fatalf("losses counted %v, want 1", got)
	}
}

// docker's json-file layout behind cri-dockerd (0.log a symlink to
// <id>-json.log in docker's directory): a file docker rotated to
// <id>-json.log.1 while drover was not running, holding the saved
// position, is found beside the symlink's target and read from the
// position, then the newer files; nothing is reported lost.
func TestKubeDockerFileRotatedWhileDownIsRead(t *testing.T) {
	w := newWorld(t)
	dockerDir := filepath.Join(filepath.Dir(w.dir), "docker", "abc")
	if err := os.MkdirAll(dockerDir, 0o755); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dockerDir, "abc-json.log")
	if err := os.Symlink(live, filepath.Join(w.dir, "0.log")); err != nil {
		t.Fatal(err)
	}
	appendTo(t, live, "l1\nl2\n")
	fp := fingerprintOf(t, live)
	// While drover was not running: two rotations.
	if err := os.Rename(live, live+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, live, "l3\n")
	if err := os.Rename(live+".1", live+".2"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(live, live+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, live, "l4\n")
	w.store.saved = []Position{{Key: "uid/app", File: 0, Path: filepath.Join(w.dir, "0.log"), Fingerprint: fp, Offset: 3, AtEnd: &no}}
	w.store.saves = 1
	w.start()
	w.disc.Send(discovery.Group{Key: "uid", Targets: []discovery.Target{kubeTarget(w.dir)}})
	waitFor(t, "the lines after the position", func() bool { return w.out.n("l2") == 1 && w.out.n("l3") == 1 && w.out.n("l4") == 1 })
	appendTo(t, live, "l5\n")
	waitFor(t, "a line written since", func() bool { return w.out.n("l5") == 1 })
	w.stop()
	w.stop = nil
	if w.out.n("l1") != 0 || strings.Contains(w.logs.String(), "lines are lost") {
		t.Fatalf("l1 read again (%d) or a loss reported:\n%s", w.out.n("l1"), w.logs.String())
	}
}

// The temporary file of a decompressed file that a process killed while
// it decompressed left behind is removed at the next start; the other
// files beside the checkpoint stay.
func TestStaleDecompressedTempRemovedAtStart(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	w.store.path = filepath.Join(dir, "kubernetes_logs-pods.json")
	stale := filepath.Join(dir, ".kubernetes_logs-pods.json.gz-123456")
	other := filepath.Join(dir, ".kubernetes_logs-other.json.gz-123456")
	for _, p := range []string{stale, other, w.store.path} {
		appendTo(t, p, "x\n")
	}
	w.start()
	waitFor(t, "the stale file removed", func() bool { _, err := os.Stat(stale); return os.IsNotExist(err) })
	for _, p := range []string{other, w.store.path} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if !w.logged("removed the temporary file of a decompressed") {
		t.Fatalf("the removal is not logged:\n%s", w.logs.String())
	}
}

// A compressed file is decompressed beside the checkpoint under the name
// the start's cleanup knows.
func TestDecompressedTempNamedForTheCleanup(t *testing.T) {
	w := newWorld(t)
	w.store.path = filepath.Join(t.TempDir(), "kubernetes_logs-pods.json")
	w.f = &Follower{o: Options{Store: w.store}}
	src := filepath.Join(w.dir, "0.log.20261207-000000")
	appendTo(t, src, "a\n")
	gzipFile(t, src)
	tmp, _, err := decompressToTemp(src+".gz", w.f.gzTemp())
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(tmp)
	if m, _ := filepath.Match(w.f.gzTemp(), tmp); !m {
		t.Fatalf("%s does not match %s", tmp, w.f.gzTemp())
	}
}

// A container first seen (no position, not drover's first start) at a
// later restart, the files of the earlier ones removed by the kubelet
// already, is reported once: their lines were never read. Its files are
// read.
func TestKubeContainerFirstSeenAfterItsFirstRestartsReported(t *testing.T) {
	w := newWorld(t)
	appendTo(t, filepath.Join(w.dir, "1.log"), "b1\n")
	appendTo(t, filepath.Join(w.dir, "2.log"), "c1\n")
	w.store.saves = 1 // a checkpoint existed: not the first start
	w.start()
	w.disc.Send(discovery.Group{Key: "uid", Targets: []discovery.Target{kubeTarget(w.dir)}})
	waitFor(t, "the lines of the files there", func() bool { return w.out.n("b1") == 1 && w.out.n("c1") == 1 })
	w.stop()
	w.stop = nil
	const report = `reason="removed before drover saw the container" first_restart_found=1`
	if n := strings.Count(w.logs.String(), report); n != 1 {
		t.Fatalf("%d reports, want 1:\n%s", n, w.logs.String())
	}
	if got := testutil.ToFloat64(w.f.losses.Counter(tail.LostPurged)); got != 1 {
		t.Fatalf("losses counted %v, want 1", got)
	}
}

// On drover's first start the files there are all it can know of: no
// report, as for files compressed before it came.
func TestKubeContainerAtALaterRestartOnTheFirstStartNotReported(t *testing.T) {
	w := newWorld(t)
	appendTo(t, filepath.Join(w.dir, "1.log"), "b1\n")
	w.start()
	w.disc.Send(discovery.Group{Key: "uid", Targets: []discovery.Target{kubeTarget(w.dir)}})
	waitFor(t, "the line", func() bool { return w.out.n("b1") == 1 })
	w.stop()
	w.stop = nil
	if strings.Contains(w.logs.String(), "lines are lost") {
		t.Fatalf("a loss reported:\n%s", w.logs.String())
	}
}
