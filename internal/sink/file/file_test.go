package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/deadletter"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// faultFS opens real files whose writes or syncs fail on demand.
type faultFS struct {
	dir string

	mu      sync.Mutex
	mode    sinktest.Mode
	onSync  bool // fail Sync instead of Write
	partial bool // a failing write writes half of its bytes first
	syncs   int
	// doomed holds the files written while the destination fails, until
	// the sink truncates them (or a sync succeeds after all): a reader
	// would see those lines for that moment, which is not delivery, so
	// Received waits for them to be rolled back.
	doomed map[string]bool
}

func (f *faultFS) SetMode(m sinktest.Mode) { f.mu.Lock(); f.mode = m; f.mu.Unlock() }

// faultLocked returns the error the operation meets now. Called under mu.
func (f *faultFS) faultLocked(sync bool) error {
	if sync != f.onSync {
		return nil
	}
	switch f.mode {
	case sinktest.FailTransient:
		if sync {
			return syscall.EIO
		}
		return syscall.ENOSPC
	case sinktest.Unauthorized:
		return syscall.EACCES
	}
	return nil
}

func (f *faultFS) open(path string, perm os.FileMode) (handle, error) {
	h, err := osOpen(path, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: h.(*os.File), fs: f}, nil
}

type faultFile struct {
	*os.File
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock() // no Received reads while a write is under way
	if f.fs.mode != sinktest.Accept {
		if f.fs.doomed == nil {
			f.fs.doomed = make(map[string]bool)
		}
		f.fs.doomed[f.Name()] = true
	}
	if err := f.fs.faultLocked(false); err != nil {
		if f.fs.partial {
			n, _ := f.File.Write(p[:len(p)/2])
			return n, err
		}
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.faultLocked(true); err != nil {
		return err
	}
	f.fs.syncs++
	delete(f.fs.doomed, f.Name())
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	delete(f.fs.doomed, f.Name())
	return f.File.Truncate(size)
}

// Received reads the messages of every file below dir, files in path
// order, once no write made while failing is waiting to be rolled back
// (for up to 10 seconds; after that it reads what is there).
func (f *faultFS) Received() []string {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		f.mu.Lock()
		if len(f.doomed) == 0 || time.Now().After(deadline) {
			defer f.mu.Unlock() // no partial write starts while reading
			break
		}
		f.mu.Unlock()
	}
	var out []string
	_ = filepath.WalkDir(f.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		out = append(out, readMessages(path)...)
		return nil
	})
	return out
}

func readMessages(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{"unreadable: " + err.Error()}
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var v struct{ Message string }
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			out = append(out, "unparsable line: "+sc.Text())
			continue
		}
		out = append(out, v.Message)
	}
	return out
}

var fastRequest = driver.RequestConfig{Concurrency: 1, Timeout: 5 * time.Second,
	RetryInitialBackoff: time.Millisecond, RetryMaxBackoff: 2 * time.Millisecond}

func TestConformance(t *testing.T) {
	for _, v := range []struct {
		name          string
		fsync, onSync bool
		partial       bool
	}{
		{"write-fails", false, false, false},
		{"write-fails-halfway", false, false, true},
		{"fsync-fails", true, true, false},
	} {
		t.Run(v.name, func(t *testing.T) {
			only := "a file takes any line; the sink refuses an event only for its path (TestRefusedPathsAreDeadLettered)"
			sinktest.Run(t, sinktest.Harness{Unsupported: map[sinktest.Mode]string{
				sinktest.TooLarge: only, sinktest.RefusePoison: only, sinktest.Refuse: only,
			}, New: func(t *testing.T, cctx component.Context) (component.Sink, sinktest.Destination) {
				ffs := &faultFS{dir: t.TempDir(), onSync: v.onSync, partial: v.partial}
				cfg := NewConfig()
				cfg.Path = ffs.dir + "/{{ host }}/{{ nomad.job_name }}.log"
				cfg.Fsync = v.fsync
				s, err := newSink(cctx, cfg, fastRequest, ffs.open)
				if err != nil {
					t.Fatal(err)
				}
				return s, ffs
			}})
		})
	}
}

// runner runs a file sink for a test.
type runner struct {
	*sinktest.Runner
	t    *testing.T
	s    *Sink
	m    *metrics.Component
	dead *sinktest.DeadLetters
}

func start(t *testing.T, cfg *Config, open func(string, os.FileMode) (handle, error)) *runner {
	t.Helper()
	if open == nil {
		open = osOpen
	}
	cctx, _, dead := sinktest.Recorded(t, Type)
	cctx.Logger = nil
	s, err := newSink(cctx, cfg, fastRequest, open)
	if err != nil {
		t.Fatal(err)
	}
	return &runner{Runner: sinktest.Start(t, s), t: t, s: s, m: cctx.Metrics, dead: dead}
}

// ev is an event of job with a message.
func ev(job, msg string) event.Event {
	fields := []event.Field{{Key: "host", Value: event.StringValue("node-1")}}
	if job != "" {
		fields = append(fields, event.Field{Key: "nomad", Value: event.ObjectValue(event.NewFields(
			event.Field{Key: "job_name", Value: event.StringValue(job)}))})
	}
	return event.Event{Timestamp: time.Unix(1700000000, 0), Message: []byte(msg), Meta: event.NewMeta("t", event.NewFields(fields...))}
}

func (r *runner) waitGauge(what string, cond func(float64) bool) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(testutil.ToFloat64(r.m.FilesOpen)) {
		if time.Now().After(deadline) {
			r.t.Fatalf("files_open never %s: %v", what, testutil.ToFloat64(r.m.FilesOpen))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestTemplatedPathsModesAndAppend(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "out", "api", "node-1.log")
	if err := os.MkdirAll(filepath.Dir(existing), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(existing, []byte(`{"message":"old"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig()
	cfg.Path = dir + "/out/{{ nomad.job_name }}/{{ host }}.log"
	cfg.FileMode, cfg.DirMode = "0640", "0750"
	r := start(t, cfg, nil)
	r.Send(ev("web", "w1"), ev("web", "w2"), ev("api", "a1"), ev("web", "w3"))
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	if got := readMessages(filepath.Join(dir, "out/web/node-1.log")); fmt.Sprint(got) != "[w1 w2 w3]" {
		t.Errorf("web.log = %v", got)
	}
	if got := readMessages(existing); fmt.Sprint(got) != "[old a1]" {
		t.Errorf("api.log = %v (existing content must be kept)", got)
	}
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	st, err := os.Stat(filepath.Join(dir, "out/web/node-1.log"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fs.FileMode(0o640 &^ umask); st.Mode().Perm() != want {
		t.Errorf("file mode %v, want %v", st.Mode().Perm(), want)
	}
	st, err = os.Stat(filepath.Join(dir, "out/web"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fs.FileMode(0o750 &^ umask); st.Mode().Perm() != want {
		t.Errorf("dir mode %v, want %v", st.Mode().Perm(), want)
	}
	if got := testutil.ToFloat64(r.m.FilesOpen); got != 0 {
		t.Errorf("files_open = %v after Run returned", got)
	}
}

func TestTextEncoding(t *testing.T) {
	dir := t.TempDir()
	cfg := NewConfig()
	cfg.Path = dir + "/plain.log"
	cfg.Encoding = "text"
	r := start(t, cfg, nil)
	r.Send(ev("web", "first line"), ev("web", `second "line"`))
	r.Ack()
	r.Close()
	data, _ := os.ReadFile(dir + "/plain.log")
	if string(data) != "first line\nsecond \"line\"\n" {
		t.Fatalf("content %q", data)
	}
}

func TestMissingFieldAndEscapingPathsAreRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := NewConfig()
	cfg.Path = dir + "/out/{{ nomad.job_name }}.log"
	r := start(t, cfg, nil)
	r.Send(ev("web", "kept"), ev("", "no job"), ev("../../escaped", "evil"), ev("web", "kept too"))
	if !r.Ack() {
		t.Fatal("a batch with refused events must be released ok (Rejected)")
	}
	r.Close()
	if got := readMessages(dir + "/out/web.log"); fmt.Sprint(got) != "[kept kept too]" {
		t.Fatalf("web.log = %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "../escaped.log")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file was created outside the template's directory: %v", err)
	}
	if got := testutil.ToFloat64(r.m.Discarded(ReasonMissingField)); got != 1 {
		t.Fatalf("discarded{missing_field} %v", got)
	}
	if got := testutil.ToFloat64(r.m.Discarded(ReasonInvalidPath)); got != 1 {
		t.Fatalf("discarded{invalid_path} %v", got)
	}
	if got := testutil.ToFloat64(r.m.SentEvents); got != 2 {
		t.Fatalf("sent %v", got)
	}
	var got []string
	for _, l := range r.dead.Letters() {
		got = append(got, l.Message+": "+l.Reason)
	}
	if fmt.Sprint(got) != "[no job: missing_field evil: invalid_path]" {
		t.Fatalf("dead letters %q", got)
	}
}

func TestPermissionDeniedIsRetriedNotRefused(t *testing.T) {
	ffs := &faultFS{dir: t.TempDir()}
	cfg := NewConfig()
	cfg.Path = ffs.dir + "/{{ nomad.job_name }}.log"
	r := start(t, cfg, ffs.open)
	ffs.SetMode(sinktest.Unauthorized)
	r.Send(ev("a", "one"))
	sinktest.WaitFor(t, "failed attempts", func() bool { return testutil.ToFloat64(r.m.DeliveryFailures("forbidden")) >= 2 })
	ffs.SetMode(sinktest.Accept)
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	if got := readMessages(ffs.dir + "/a.log"); fmt.Sprint(got) != "[one]" || len(r.dead.Letters()) != 0 {
		t.Fatalf("a.log = %v, dead letters %+v", got, r.dead.Letters())
	}
}

func TestInvalidPathIsRetriedWhenTheTemplateIsConstant(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/not-a-dir", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig()
	cfg.Path = dir + "/not-a-dir/out.log" // a configuration error, not the event's
	r := start(t, cfg, nil)
	r.Send(ev("a", "one"))
	sinktest.WaitFor(t, "failed attempts", func() bool { return testutil.ToFloat64(r.m.DeliveryFailures("misconfigured")) >= 2 })
	if len(r.dead.Letters()) != 0 {
		t.Fatalf("dead letters %+v", r.dead.Letters())
	}
	if err := os.Remove(dir + "/not-a-dir"); err != nil {
		t.Fatal(err)
	}
	if !r.Ack() {
		t.Fatal("not ok")
	}
	r.Close()
	if got := readMessages(dir + "/not-a-dir/out.log"); fmt.Sprint(got) != "[one]" {
		t.Fatalf("out.log = %v", got)
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	cfg := NewConfig()
	cfg.Path = dir + "/{{ nomad.job_name }}.log"
	cfg.Encoding = "text"
	cfg.Rotate = &RotateConfig{MaxBytes: 20, MaxFiles: 2}
	cfg.Fsync = true
	r := start(t, cfg, nil)
	// Lines of 6 bytes: three fit in 20 bytes.
	var lines []string
	for i := range 10 {
		lines = append(lines, fmt.Sprintf("line%d", i))
	}
	r.Send(ev("a", lines[0]), ev("a", lines[1]))
	r.Ack()
	var evs []event.Event
	for _, l := range lines[2:] {
		evs = append(evs, ev("a", l))
	}
	r.Send(evs...)
	r.Ack()
	r.Send(ev("a", strings.Repeat("x", 30))) // larger than a file: alone in one
	r.Ack()
	r.Send(ev("b", "other"))
	r.Ack()
	r.Close()
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "missing"
		}
		return strings.ReplaceAll(strings.TrimSuffix(string(data), "\n"), "\n", ",")
	}
	got := fmt.Sprintf("a.log=%s a.log.1=%s a.log.2=%s a.log.3=%s b.log=%s",
		read("a.log"), read("a.log.1"), read("a.log.2"), read("a.log.3"), read("b.log"))
	want := "a.log=" + strings.Repeat("x", 30) + " a.log.1=line9 a.log.2=line6,line7,line8 a.log.3=missing b.log=other"
	if got != want {
		t.Fatalf("files:\n%s\nwant\n%s", got, want)
	}
}

func TestRotatedFilesAreDeadLetterFiles(t *testing.T) {
	// The dead letters of another sink, written the way a file sink that
	// consumes its dead-letter output writes them.
	dir := t.TempDir()
	cfg := NewConfig()
	cfg.Path = dir + "/dead.ndjson"
	cfg.Rotate = &RotateConfig{MaxBytes: 1 << 20}
	r := start(t, cfg, nil)
	dead := sinktest.NewDeadLetters()
	e := ev("web", "refused line")
	cctx := sinktest.Context(t, "elasticsearch")
	cctx.ID = "es"
	cctx.Outputs = map[string]component.Emitter{"dead_letter": dead}
	deadletter.New(cctx).Write(context.Background(), []*event.Event{&e}, func(int) deadletter.Refusal {
		return deadletter.Refusal{Reason: "mapper_parsing_exception", Err: errors.New("failed to parse [n]"), Status: 400}
	}, func(bool) {})
	r.Send(dead.Letters()[0].Event)
	r.Ack()
	r.Close()
	data, err := os.ReadFile(dir + "/dead.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Message    string
		Host       string
		DeadLetter struct {
			Sink, Reason, Error string
			Status              int
			Time                time.Time
		} `json:"dead_letter"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if v.Message != "refused line" || v.Host != "node-1" || v.DeadLetter.Sink != "es" || v.DeadLetter.Reason != "mapper_parsing_exception" ||
		v.DeadLetter.Error != "failed to parse [n]" || v.DeadLetter.Status != 400 || v.DeadLetter.Time.IsZero() {
		t.Fatalf("dead letter line %s", data)
	}
}

func TestIdleFilesAreClosed(t *testing.T) {
	dir := t.TempDir()
	cfg := NewConfig()
	cfg.Path = dir + "/{{ nomad.job_name }}.log"
	cfg.IdleTimeout = 30 * time.Millisecond
	r := start(t, cfg, nil)
	r.Send(ev("web", "one"))
	r.Ack()
	r.waitGauge("1", func(v float64) bool { return v == 1 || v == 0 })
	r.waitGauge("0 after the idle timeout", func(v float64) bool { return v == 0 })
	r.Send(ev("web", "two"))
	r.Ack()
	r.Close()
	if got := readMessages(dir + "/web.log"); fmt.Sprint(got) != "[one two]" {
		t.Fatalf("web.log = %v", got)
	}
}

func TestMovedFileIsReopened(t *testing.T) {
	defer func(old time.Duration) { checkInterval = old }(checkInterval)
	checkInterval = 5 * time.Millisecond
	dir := t.TempDir()
	cfg := NewConfig()
	cfg.Path = dir + "/{{ nomad.job_name }}.log"
	cfg.IdleTimeout = time.Hour
	r := start(t, cfg, nil)
	r.Send(ev("web", "before rotation"))
	r.Ack()
	if err := os.Rename(dir+"/web.log", dir+"/web.log.1"); err != nil {
		t.Fatal(err)
	}
	r.waitGauge("0 after the file was moved", func(v float64) bool { return v == 0 })
	r.Send(ev("web", "after rotation"))
	r.Ack()
	r.Close()
	if got := readMessages(dir + "/web.log.1"); fmt.Sprint(got) != "[before rotation]" {
		t.Errorf("rotated file = %v", got)
	}
	if got := readMessages(dir + "/web.log"); fmt.Sprint(got) != "[after rotation]" {
		t.Errorf("new file = %v", got)
	}
}

func TestMaxOpenFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := NewConfig()
	cfg.Path = dir + "/{{ nomad.job_name }}.log"
	cfg.MaxOpenFiles = 2
	r := start(t, cfg, nil)
	for round := range 3 {
		r.Send(ev("a", fmt.Sprint("a", round)), ev("b", fmt.Sprint("b", round)), ev("c", fmt.Sprint("c", round)))
		r.Ack()
		if got := testutil.ToFloat64(r.m.FilesOpen); got > 2 {
			t.Fatalf("files_open = %v with max_open_files = 2", got)
		}
	}
	r.Close()
	for _, job := range []string{"a", "b", "c"} {
		if got := readMessages(dir + "/" + job + ".log"); fmt.Sprint(got) != fmt.Sprintf("[%s0 %s1 %s2]", job, job, job) {
			t.Errorf("%s.log = %v", job, got)
		}
	}
}

func TestFsyncBeforeAck(t *testing.T) {
	for _, fsync := range []bool{true, false} {
		t.Run(fmt.Sprint("fsync=", fsync), func(t *testing.T) {
			ffs := &faultFS{dir: t.TempDir()}
			cfg := NewConfig()
			cfg.Path = ffs.dir + "/{{ nomad.job_name }}.log"
			cfg.Fsync = fsync
			r := start(t, cfg, ffs.open)
			r.Send(ev("a", "1"), ev("b", "2"), ev("a", "3"))
			r.Ack()
			ffs.mu.Lock()
			syncs := ffs.syncs
			ffs.mu.Unlock()
			want := 0
			if fsync {
				want = 2 // once per file written
			}
			if syncs != want {
				t.Fatalf("%d syncs before the ack, want %d", syncs, want)
			}
			r.Close()
		})
	}
}

func TestFailedWriteIsRolledBack(t *testing.T) {
	ffs := &faultFS{dir: t.TempDir(), partial: true}
	cfg := NewConfig()
	cfg.Path = ffs.dir + "/{{ nomad.job_name }}.log"
	r := start(t, cfg, ffs.open)
	r.Send(ev("a", "before"))
	r.Ack()
	ffs.SetMode(sinktest.FailTransient)
	r.Send(ev("a", "during-1"), ev("a", "during-2"))
	sinktest.WaitFor(t, "failed attempts", func() bool { return testutil.ToFloat64(r.m.Errors("send")) >= 2 })
	ffs.SetMode(sinktest.Accept)
	r.Ack()
	r.Close()
	data, _ := os.ReadFile(ffs.dir + "/a.log")
	got := readMessages(ffs.dir + "/a.log")
	if fmt.Sprint(got) != "[before during-1 during-2]" {
		t.Fatalf("file holds %v:\n%s", got, data)
	}
}

func TestConfigValidate(t *testing.T) {
	mod := func(f func(*Config)) *Config {
		c := NewConfig()
		c.Path = "/var/log/out/{{ host }}.log"
		f(c)
		return c
	}
	if err := mod(func(*Config) {}).Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]*Config{
		"path":             mod(func(c *Config) { c.Path = "" }),
		"path ":            mod(func(c *Config) { c.Path = "/var/log/{{ host" }),
		"encoding":         mod(func(c *Config) { c.Encoding = "xml" }),
		"idle_timeout":     mod(func(c *Config) { c.IdleTimeout = 0 }),
		"max_open_files":   mod(func(c *Config) { c.MaxOpenFiles = 0 }),
		"file_mode":        mod(func(c *Config) { c.FileMode = "0999" }),
		"dir_mode":         mod(func(c *Config) { c.DirMode = "rwx" }),
		"dir_mode ":        mod(func(c *Config) { c.DirMode = "01777" }),
		"rotate.max_bytes": mod(func(c *Config) { c.Rotate = &RotateConfig{MaxBytes: -1} }),
		"rotate.max_files": mod(func(c *Config) { c.Rotate = &RotateConfig{MaxFiles: 5000} }),
	}
	for field, c := range cases {
		err := c.Validate()
		var fe *config.FieldError
		if !errors.As(err, &fe) || fe.Field != strings.TrimSpace(field) {
			t.Errorf("%s: Validate = %v", field, err)
		}
	}
	err := mod(func(c *Config) { c.Path = "/x/{{ }}" }).Validate()
	if err == nil || !strings.Contains(err.Error(), "empty field reference") {
		t.Errorf("template error not explained: %v", err)
	}
}

func TestBaseDir(t *testing.T) {
	cases := map[string]string{
		"/var/log/out/{{ host }}.log": "/var/log/out",
		"/var/log/app-{{ host }}.log": "/var/log",
		"out/{{ host }}/x.log":        "out",
		"app-{{ host }}.log":          ".",
		"{{ file }}.copy":             "",
		"/var/log/constant.log":       "",
		"/{{ host }}.log":             "/",
	}
	keys := make([]string, 0, len(cases))
	for k := range cases {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, tmpl := range keys {
		cfg := NewConfig()
		cfg.Path = tmpl
		s, err := New(sinktest.Context(t, Type), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if s.base != cases[tmpl] {
			t.Errorf("%q: base %q, want %q", tmpl, s.base, cases[tmpl])
		}
	}
}

func TestRegistered(t *testing.T) {
	reg, ok := component.Lookup(component.KindSink, Type)
	if !ok {
		t.Fatal("file sink not registered")
	}
	cfg := reg.NewConfig().(*Config)
	if cfg.Encoding != "json" || cfg.IdleTimeout != 30*time.Second || cfg.FileMode != "0644" || cfg.DirMode != "0755" || cfg.Fsync || cfg.MaxOpenFiles != 256 {
		t.Fatalf("defaults %+v", cfg)
	}
}

func TestLoadFromHCL(t *testing.T) {
	c, err := sinktest.LoadConfig(t, Type, `
  path           = "/var/log/drover/{{ nomad.namespace }}/{{ nomad.job_name }}.log"
  encoding       = "text"
  idle_timeout   = "1m"
  max_open_files = 64
  file_mode      = "0600"
  dir_mode       = "0700"
  fsync          = true
  rotate {
    max_bytes = "10MiB"
    max_files = 3
  }
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{Path: "/var/log/drover/{{ nomad.namespace }}/{{ nomad.job_name }}.log", Encoding: "text",
		IdleTimeout: time.Minute, MaxOpenFiles: 64, FileMode: "0600", DirMode: "0700", Fsync: true,
		Rotate: &RotateConfig{MaxBytes: 10 << 20, MaxFiles: 3}}
	if got := c.(*Config); !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v", got)
	}
	_, err = sinktest.LoadConfig(t, Type, `path = "/var/log/{{ host"`, nil)
	if err == nil || !strings.Contains(err.Error(), `sink.hcl:4,1`) || !strings.Contains(err.Error(), `unclosed "{{"`) {
		t.Fatalf("bad template: %v", err)
	}
}

func TestUncleanPathsShareOneFile(t *testing.T) {
	dir := t.TempDir()
	cfg := NewConfig()
	cfg.Path = dir + "/out/{{ nomad.job_name }}.log"
	r := start(t, cfg, nil)
	r.Send(ev("web", "1"), ev("./web", "2"), ev("x/../web", "3"), ev("web", "4"))
	r.Ack()
	if got := testutil.ToFloat64(r.m.FilesOpen); got != 1 {
		t.Errorf("files_open = %v for one file", got)
	}
	r.Close()
	if got := readMessages(dir + "/out/web.log"); fmt.Sprint(got) != "[1 2 3 4]" {
		t.Fatalf("web.log = %v", got)
	}
}
