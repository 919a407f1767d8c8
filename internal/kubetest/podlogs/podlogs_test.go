package podlogs

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// clock is a test clock that moves one second per call of tick.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }
func (c *clock) tick()          { c.t = c.t.Add(time.Second) }

func newCRI(t *testing.T) (*Container, *clock) {
	root := t.TempDir()
	clk := &clock{t: time.Date(2026, 12, 7, 17, 20, 11, 120000000, time.UTC)}
	return &Container{Root: filepath.Join(root, "pods"), LegacyRoot: filepath.Join(root, "containers"),
		Namespace: "apps", Pod: "web-7d4b9c-x2x", UID: "0d6e1c7a-1f2b-4c3d-9e8f-0a1b2c3d4e5f", Name: "nginx",
		MaxLine: 10, MaxFiles: 4, Now: clk.now}, clk
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func readAll(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var criLine = regexp.MustCompile(`^(\S+) (stdout|stderr) ([PF]) (.*)$`)

func TestCRILinesAndSplits(t *testing.T) {
	c, _ := newCRI(t)
	if err := c.WriteLine("stdout", "hello"); err != nil {
		t.Fatal(err)
	}
	// 10 bytes is not over MaxLine: one full line. 11 is: a piece of 10, a
	// full line of 1. 25: 10 + 10 + 5.
	must(t, c.Write("stderr", []byte("0123456789\r\n01234567890\n")))
	must(t, c.Write("stdout", []byte(strings.Repeat("x", 25)+"\n")))
	// Output without a newline stays until more comes or the container
	// stops; then it is a last partial line.
	must(t, c.Write("stdout", []byte("tail")))
	must(t, c.Stop())
	want := []string{
		"stdout F hello", "stderr F 0123456789", "stderr P 0123456789", "stderr F 0",
		"stdout P xxxxxxxxxx", "stdout P xxxxxxxxxx", "stdout F xxxxx", "stdout P tail",
	}
	got := strings.Split(strings.TrimSuffix(readAll(t, filepath.Join(c.Dir(), "0.log")), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("lines:\n%s", strings.Join(got, "\n"))
	}
	for i, l := range got {
		m := criLine.FindStringSubmatch(l)
		if m == nil || m[2]+" "+m[3]+" "+m[4] != want[i] {
			t.Fatalf("line %d: %q, want ... %q", i, l, want[i])
		}
		// RFC3339Nano: trailing zeros of the fraction dropped.
		if m[1] != "2026-12-07T17:20:11.12Z" {
			t.Fatalf("time %q", m[1])
		}
	}
	if c.Dir() != filepath.Join(c.Root, "apps_web-7d4b9c-x2x_0d6e1c7a-1f2b-4c3d-9e8f-0a1b2c3d4e5f", "nginx") {
		t.Fatalf("dir %s", c.Dir())
	}
	links := names(t, c.LegacyRoot)
	if len(links) != 1 || !regexp.MustCompile(`^web-7d4b9c-x2x_apps_nginx-[0-9a-f]{64}\.log$`).MatchString(links[0]) {
		t.Fatalf("legacy links %v", links)
	}
	if dst, _ := os.Readlink(filepath.Join(c.LegacyRoot, links[0])); dst != filepath.Join(c.Dir(), "0.log") {
		t.Fatalf("legacy link to %s", dst)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestKubeletRotation follows the kubelet's rotateLog step by step with
// containerLogMaxFiles = 4: the newest rotated file stays uncompressed
// until the next rotation, at most 4 files are kept (the live one, the one
// just rotated, and 2 older ones).
func TestKubeletRotation(t *testing.T) {
	c, clk := newCRI(t)
	var all []string
	write := func(s string) {
		all = append(all, s)
		must(t, c.WriteLine("stdout", s))
	}
	write("a")
	must(t, c.Rotate())
	if got := names(t, c.Dir()); !slices.Equal(got, []string{"0.log", "0.log.20261207-172011"}) {
		t.Fatalf("after 1: %v", got)
	}
	// Within the same second: refused, nothing lost.
	if err := c.Rotate(); err == nil {
		t.Fatal("second rotation in the same second")
	}
	write("b")
	clk.tick()
	must(t, c.Rotate())
	write("c")
	clk.tick()
	must(t, c.Rotate())
	write("d")
	got := names(t, c.Dir())
	want := []string{"0.log", "0.log.20261207-172011.gz", "0.log.20261207-172012.gz", "0.log.20261207-172013"}
	if !slices.Equal(got, want) {
		t.Fatalf("after 3: %v", got)
	}
	if s := readAll(t, filepath.Join(c.Dir(), want[2])); !strings.HasSuffix(s, " stdout F b\n") {
		t.Fatalf("gz holds %q", s)
	}
	// A failed rotation's leftovers are cleaned: a .tmp, and an
	// uncompressed file whose .gz exists.
	must(t, os.WriteFile(filepath.Join(c.Dir(), "0.log.20261207-172013.tmp"), []byte("x"), 0o644))
	must(t, os.WriteFile(filepath.Join(c.Dir(), "0.log.20261207-172012"), []byte("x"), 0o644))
	clk.tick()
	must(t, c.Rotate())
	got = names(t, c.Dir())
	want = []string{"0.log", "0.log.20261207-172012.gz", "0.log.20261207-172013.gz", "0.log.20261207-172014"}
	if !slices.Equal(got, want) {
		t.Fatalf("after 4: %v", got)
	}
	// A restart starts 1.log; the next restart removes 0.log*.
	must(t, c.RestartContainer())
	write("e")
	if got := names(t, c.Dir()); !slices.Contains(got, "1.log") || !slices.Contains(got, "0.log") {
		t.Fatalf("after restart: %v", got)
	}
	must(t, c.RestartContainer())
	if got := names(t, c.Dir()); !slices.Equal(got, []string{"1.log", "2.log"}) {
		t.Fatalf("after second restart: %v", got)
	}
	if c.Path() != filepath.Join(c.Dir(), "2.log") || c.Restart() != 2 {
		t.Fatal(c.Path())
	}
	must(t, c.RemovePod())
	if _, err := os.Stat(c.PodDir()); !os.IsNotExist(err) {
		t.Fatal("pod dir left")
	}
	if links := names(t, c.LegacyRoot); len(links) != 0 {
		t.Fatalf("links left: %v", links)
	}
}

type dockerLine struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func readDocker(t *testing.T, path string) []dockerLine {
	t.Helper()
	var out []dockerLine
	sc := bufio.NewScanner(strings.NewReader(readAll(t, path)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l dockerLine
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func TestDockerJSONFile(t *testing.T) {
	root := t.TempDir()
	c := &Container{Root: filepath.Join(root, "pods"), DockerRoot: filepath.Join(root, "docker"), Runtime: Docker,
		Namespace: "apps", Pod: "api", UID: "u1", Name: "app", MaxFiles: 3, DockerCompress: true,
		Now: func() time.Time { return time.Date(2026, 12, 7, 18, 20, 11, 500, time.FixedZone("x", 3600)) }}
	must(t, c.WriteLine("stdout", `say "<hi>" & bye`+"\t\x01\xff\u2028"))
	long := strings.Repeat("y", 2*DockerBuffer+3)
	must(t, c.WriteLine("stderr", long))
	must(t, c.WriteLine("stdout", strings.Repeat("z", DockerBuffer)))
	link := filepath.Join(c.Dir(), "0.log")
	target, err := os.Readlink(link)
	if err != nil {
		t.Fatal(err)
	}
	id := c.ContainerID()
	if target != filepath.Join(c.DockerRoot, id, id+"-json.log") {
		t.Fatalf("symlink to %s", target)
	}
	raw := readAll(t, link)
	if !strings.HasPrefix(raw, `{"log":"say \"\u003chi\u003e\" \u0026 bye\u0009\u0001\ufffd\u2028\n","stream":"stdout","time":"2026-12-07T17:20:11.0000005Z"}`+"\n") {
		t.Fatalf("escaping or time:\n%s", raw[:200])
	}
	lines := readDocker(t, link)
	if len(lines) != 6 {
		t.Fatalf("%d lines", len(lines))
	}
	// A long line: 16 KiB pieces without "\n", the rest with it.
	if lines[1].Log != long[:DockerBuffer] || lines[2].Log != long[:DockerBuffer] || lines[3].Log != "yyy\n" || lines[1].Stream != "stderr" {
		t.Fatalf("split: %d %d %q", len(lines[1].Log), len(lines[2].Log), lines[3].Log)
	}
	// Exactly 16 KiB: the buffer fills, a piece; then an empty last one.
	if len(lines[4].Log) != DockerBuffer || lines[5].Log != "\n" {
		t.Fatalf("16 KiB line: %d %q", len(lines[4].Log), lines[5].Log)
	}
	// Docker's rotation: .1 (compressed), shifting, max-file 3.
	for i := range 3 {
		must(t, c.Rotate())
		must(t, c.WriteLine("stdout", string(rune('a'+i))))
	}
	got := names(t, filepath.Join(c.DockerRoot, id))
	if !slices.Equal(got, []string{id + "-json.log", id + "-json.log.1.gz", id + "-json.log.2.gz"}) {
		t.Fatalf("rotated: %v", got)
	}
	if l := readDocker(t, filepath.Join(c.DockerRoot, id, id+"-json.log.1.gz")); len(l) != 1 || l[0].Log != "b\n" {
		t.Fatalf(".1.gz holds %+v", l)
	}
	// max-size: rotation before a write that finds the file full.
	c.DockerMaxSize(1)
	must(t, c.WriteLine("stdout", "d"))
	if l := readDocker(t, link); len(l) != 1 || l[0].Log != "d\n" {
		t.Fatalf("after max-size: %+v", l)
	}
}
