package follow

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/discovery"
	"github.com/drover-dev/drover/internal/event"
)

// The kubelet's names parse, and sort as the scheme orders them: by
// restart, rotated files by time (a compressed one beside its original),
// the live file last.
func TestKubeNamesAndOrder(t *testing.T) {
	for _, bad := range []string{"", "log", ".log", "01.log", "0.logx", "0.log.", "0.log.2026", "0.log.20261307-000000",
		"0.log.20261207-172011.tmp", "a.log", "0.log.gz", "1234567890.log"} {
		if _, ok := parseKubeName(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	names := []string{"1.log", "0.log.20261207-172011.gz", "0.log", "0.log.20261207-180000", "10.log", "0.log.20261207-172011",
		"1.log.20261207-100000", "2.log"}
	var es []kubeEntry
	for _, n := range names {
		e, ok := parseKubeName(n)
		if !ok {
			t.Fatalf("%q did not parse", n)
		}
		es = append(es, e)
	}
	slices.SortFunc(es, compareKube)
	var got []string
	for _, e := range es {
		got = append(got, e.name)
	}
	want := []string{"0.log.20261207-172011", "0.log.20261207-172011.gz", "0.log.20261207-180000", "0.log",
		"1.log.20261207-100000", "1.log", "2.log", "10.log"}
	if !slices.Equal(got, want) {
		t.Fatalf("order\n got %v\nwant %v", got, want)
	}
}

// Names read from a container's directory never panic the parser, and
// what parses is a name of the scheme: it starts with its restart and
// ".log".
func FuzzParseKubeName(f *testing.F) {
	for _, s := range []string{"0.log", "12.log.20261207-172011", "3.log.20261207-172011.gz", "0.log.tmp", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		e, ok := parseKubeName(name)
		if !ok {
			return
		}
		if e.name != name || !strings.HasPrefix(name, strconv.FormatUint(e.restart, 10)+".log") {
			t.Fatalf("%q parsed as %+v", name, e)
		}
		if e.gz && (e.rotated == "" || !strings.HasSuffix(name, ".gz")) {
			t.Fatalf("%q: compressed without a rotation time", name)
		}
	})
}

// A rotation is followed as soon as it happens, without the deep scan of
// watched directories: the kubelet's (rename 0.log, create a new one in
// the watched directory, which fsnotify reports) and docker's behind
// cri-dockerd (0.log a symlink to a file in docker's directory, renamed
// and created anew there: the symlink does not change, so the container's
// directory brings no event and is scanned every scan_interval). The
// write events of the new live file reach the chain once the renamed one
// is left.
func TestKubeRotationFollowedWithoutDeepScan(t *testing.T) {
	defer func(d time.Duration) { watchedScanInterval = d }(watchedScanInterval)
	watchedScanInterval = time.Hour
	for _, docker := range []bool{false, true} {
		t.Run(map[bool]string{false: "kubelet", true: "docker"}[docker], func(t *testing.T) {
			w := newWorld(t)
			live := filepath.Join(w.dir, "0.log")
			if docker {
				dockerDir := filepath.Join(filepath.Dir(w.dir), "docker", "abc")
				if err := os.MkdirAll(dockerDir, 0o755); err != nil {
					t.Fatal(err)
				}
				live = filepath.Join(dockerDir, "abc-json.log")
				if err := os.Symlink(live, filepath.Join(w.dir, "0.log")); err != nil {
					t.Fatal(err)
				}
			}
			appendTo(t, live, "first\n")
			w.start()
			tg := discovery.Target{Key: "uid/app", Dir: w.dir, Name: "app", Scheme: discovery.Kubernetes,
				Meta: event.NewMeta("test", nil), Attrs: []slog.Attr{slog.String("container", "app")}}
			w.disc.Send(discovery.Group{Key: "uid", Targets: []discovery.Target{tg}})
			waitFor(t, "the first line", func() bool { return w.out.n("first") == 1 })
			for i := range 3 {
				rotated := filepath.Join(w.dir, "0.log.20261207-17201"+strconv.Itoa(i))
				if docker {
					rotated = live + "." + strconv.Itoa(i+1)
				}
				if err := os.Rename(live, rotated); err != nil {
					t.Fatal(err)
				}
				line := "after rotation " + strconv.Itoa(i)
				appendTo(t, live, line+"\n")
				waitFor(t, "the line written after the rotation", func() bool { return w.out.n(line) == 1 })
			}
			// The rotated file was left for the new one; the new one's write
			// events still find the chain (the renamed file was opened as
			// 0.log too).
			waitFor(t, "the rotated file left", func() bool { return w.logged("read to its end; reading the next one") })
			w.stopped = func() {
				if c := w.f.byPath[filepath.Join(w.dir, "0.log")]; c == nil || c != w.f.chains["uid/app"] {
					t.Errorf("the write events of the new 0.log find no chain")
				}
			}
			w.stop()
			w.stop = nil
		})
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// The kubelet rotates between the listing of a container's directory and
// the stat of its files: the listing names 0.log, which is by then the new
// file, and not the renamed one. Every line of both files arrives, the new
// file's later ones too (the renamed file, seen at the next look, is older
// than the new one, not the chain's next file).
func TestKubeRotationBetweenListingAndStat(t *testing.T) {
	w := newWorld(t)
	live := filepath.Join(w.dir, "0.log")
	appendTo(t, live, "a1\n")
	var once sync.Once
	kubeListed = func(dir string) {
		if dir != w.dir {
			return
		}
		once.Do(func() {
			if err := os.Rename(live, live+".20261207-000000"); err != nil {
				t.Error(err)
			}
			appendTo(t, live, "b1\n")
		})
	}
	defer func() { kubeListed = nil }()
	w.start()
	tg := discovery.Target{Key: "uid/app", Dir: w.dir, Name: "app", Scheme: discovery.Kubernetes,
		Meta: event.NewMeta("test", nil), Attrs: []slog.Attr{slog.String("container", "app")}}
	w.disc.Send(discovery.Group{Key: "uid", Targets: []discovery.Target{tg}})
	waitFor(t, "the lines of both files", func() bool { return w.out.n("a1") == 1 && w.out.n("b1") == 1 })
	appendTo(t, live, "b2\n")
	waitFor(t, "the line written to the new file afterwards", func() bool { return w.out.n("b2") == 1 })
}
