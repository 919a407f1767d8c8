package podlogs

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/containerlog"
)

// TestDecodersRejoinWhatWasWritten: lines of every length around the
// runtimes' split sizes, written through both runtimes' formats, come back
// whole and per stream through internal/containerlog's decoders and
// Joiner, as the kubernetes_logs source reads them.
func TestDecodersRejoinWhatWasWritten(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var want = map[string][]string{}
	var lines []struct{ stream, text string }
	for i := range 200 {
		n := r.IntN(3 * DockerBuffer)
		switch i % 5 {
		case 0:
			n = DefaultMaxLine + r.IntN(3) - 1
		case 1:
			n = 2*DockerBuffer + r.IntN(3) - 1
		}
		stream := "stdout"
		if r.IntN(2) == 0 {
			stream = "stderr"
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = "abcdefgh\"\\<é\t"[r.IntN(14)]
		}
		text := strings.ToValidUTF8(string(b), "?")
		lines = append(lines, struct{ stream, text string }{stream, text})
		want[stream] = append(want[stream], text)
	}
	for _, rt := range []Runtime{CRI, Docker} {
		root := t.TempDir()
		c := &Container{Root: filepath.Join(root, "pods"), DockerRoot: filepath.Join(root, "docker"), Runtime: rt,
			Namespace: "a", Pod: "p", UID: "u", Name: "c", Now: func() time.Time { return time.Unix(1700000000, 5) }}
		for _, l := range lines {
			must(t, c.WriteLine(l.stream, l.text))
		}
		must(t, c.Stop())
		f, err := os.Open(filepath.Join(c.Dir(), "0.log"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		joiners := map[string]*containerlog.Joiner{"stdout": {}, "stderr": {}}
		got := map[string][]string{}
		var dd containerlog.DockerDecoder
		for sc.Scan() {
			var l containerlog.Line
			if rt == CRI {
				l, err = containerlog.ParseCRI(sc.Bytes())
			} else {
				l, err = dd.Parse(sc.Bytes())
			}
			if err != nil {
				t.Fatalf("runtime %d: %q: %v", rt, sc.Text()[:min(80, len(sc.Text()))], err)
			}
			if !l.Time.Equal(time.Unix(1700000000, 5)) {
				t.Fatalf("time %v", l.Time)
			}
			if w, trunc, done := joiners[l.Stream].Add(l); done {
				if trunc {
					t.Fatal("truncated")
				}
				got[l.Stream] = append(got[l.Stream], string(w.Message))
			}
		}
		f.Close()
		for _, s := range []string{"stdout", "stderr"} {
			if len(got[s]) != len(want[s]) {
				t.Fatalf("runtime %d %s: %d lines, want %d", rt, s, len(got[s]), len(want[s]))
			}
			for i := range want[s] {
				if got[s][i] != want[s][i] {
					t.Fatalf("runtime %d %s line %d: %d bytes, want %d", rt, s, i, len(got[s][i]), len(want[s][i]))
				}
			}
		}
	}
}
