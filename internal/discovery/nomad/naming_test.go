package nomad

import (
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

func TestLogsDir(t *testing.T) {
	got := LogsDir("/opt/nomad/data/alloc", "9c75b10c-c61b-8def-104e-7dab6f20befb")
	if want := "/opt/nomad/data/alloc/9c75b10c-c61b-8def-104e-7dab6f20befb/alloc/logs"; got != want {
		t.Errorf("LogsDir = %q, want %q", got, want)
	}
}

func TestMatchLogFile(t *testing.T) {
	cases := []struct {
		name, task string
		stream     Stream
		n          uint64
		ok         bool
	}{
		{"api.stdout.0", "api", Stdout, 0, true},
		{"api.stderr.12", "api", Stderr, 12, true},
		{"api.stdout.18446744073709551615", "api", Stdout, 1<<64 - 1, true},
		{"api-proxy.stdout.0", "api", Stdout, 0, false},
		{"api.stdout.0", "api-proxy", Stdout, 0, false},
		{"api.stderr.0", "api", Stdout, 0, false},
		{".api.stdout.fifo", "api", Stdout, 0, false},
		{"api.stdout.fifo", "api", Stdout, 0, false},
		{"api.stdout.", "api", Stdout, 0, false},
		{"api.stdout.01", "api", Stdout, 0, false},
		{"api.stdout.-1", "api", Stdout, 0, false},
		{"api.stdout.+1", "api", Stdout, 0, false},
		{"api.stdout.1.gz", "api", Stdout, 0, false},
		{"api.stdout.18446744073709551616", "api", Stdout, 0, false},
		{"xapi.stdout.0", "api", Stdout, 0, false},
		{"my.task.stdout.3", "my.task", Stdout, 3, true},
		{"my.task.stdout.3", "my", Stdout, 0, false},
		{"a.stdout.stdout.1", "a.stdout", Stdout, 1, true},
		{"a.stdout.stdout.1", "a", Stdout, 0, false},
		{"api.stdout.0", "", Stdout, 0, false},
		{"api.stdin.0", "api", Stream("stdin"), 0, false},
	}
	for _, c := range cases {
		n, ok := MatchLogFile(c.name, c.task, c.stream)
		if ok != c.ok || n != c.n {
			t.Errorf("MatchLogFile(%q, %q, %s) = %d, %v; want %d, %v", c.name, c.task, c.stream, n, ok, c.n, c.ok)
		}
	}
}

func TestParseLogFileName(t *testing.T) {
	cases := []struct {
		name string
		want LogFile
		ok   bool
	}{
		{"spam.stdout.0", LogFile{Task: "spam", Stream: Stdout, N: 0}, true},
		{"spam.stderr.7", LogFile{Task: "spam", Stream: Stderr, N: 7}, true},
		{"my.task.stdout.3", LogFile{Task: "my.task", Stream: Stdout, N: 3}, true},
		{"a.stderr.stdout.2", LogFile{Task: "a.stderr", Stream: Stdout, N: 2}, true},
		{"api-proxy.stdout.0", LogFile{Task: "api-proxy", Stream: Stdout, N: 0}, true},
		{".spam.stdout.fifo", LogFile{}, false},
		{".stdout.0", LogFile{}, false},
		{"stdout.0", LogFile{}, false},
		{"spam.stdout", LogFile{}, false},
		{"spam.log.0", LogFile{}, false},
		{"spam.stdout.007", LogFile{}, false},
		{"", LogFile{}, false},
	}
	for _, c := range cases {
		got, ok := ParseLogFileName(c.name)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseLogFileName(%q) = %+v, %v; want %+v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestParseLogPath(t *testing.T) {
	const id = "9c75b10c-c61b-8def-104e-7dab6f20befb"
	cases := []struct {
		path string
		want LogFile
		ok   bool
	}{
		{"/opt/nomad/data/alloc/" + id + "/alloc/logs/spam.stdout.0", LogFile{AllocID: id, Task: "spam", Stream: Stdout}, true},
		{"/srv/allocs/" + id + "/alloc/logs/my.task.stderr.3", LogFile{AllocID: id, Task: "my.task", Stream: Stderr, N: 3}, true},
		{"/opt/nomad/data/alloc/" + id + "/alloc/logs/../logs/spam.stdout.1", LogFile{AllocID: id, Task: "spam", Stream: Stdout, N: 1}, true},
		{id + "/alloc/logs/spam.stdout.2", LogFile{AllocID: id, Task: "spam", Stream: Stdout, N: 2}, true},
		{"/opt/nomad/data/alloc/" + id + "/alloc/logs/.spam.stdout.fifo", LogFile{}, false},
		{"/opt/nomad/data/alloc/" + id + "/spam/logs/spam.stdout.0", LogFile{}, false},
		{"/opt/nomad/data/alloc/" + id + "/alloc/data/spam.stdout.0", LogFile{}, false},
		{"/alloc/logs/spam.stdout.0", LogFile{}, false},
		{"alloc/logs/spam.stdout.0", LogFile{}, false},
		{"/x/.hidden/alloc/logs/spam.stdout.0", LogFile{}, false},
	}
	for _, c := range cases {
		got, ok := ParseLogPath(c.path)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseLogPath(%q) = %+v, %v; want %+v, %v", c.path, got, ok, c.want, c.ok)
		}
	}
}

func TestListLogFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"api.stdout.10", "api.stdout.2", "api.stdout.0", "api.stderr.0", "api-proxy.stdout.0", "api.stdout.x"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, ".api.stdout.fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "api.stdout.3"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := ListLogFiles(dir, "api", Stdout)
	if err != nil {
		t.Fatal(err)
	}
	want := []LogFile{{Task: "api", Stream: Stdout, N: 0}, {Task: "api", Stream: Stdout, N: 2}, {Task: "api", Stream: Stdout, N: 10}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListLogFiles = %+v, want %+v", got, want)
	}
	got, err = ListLogFiles(filepath.Join(dir, "missing"), "api", Stdout)
	if err != nil || got != nil {
		t.Errorf("missing dir: %v, %v", got, err)
	}
}

func TestLogFileNameRoundTrip(t *testing.T) {
	for _, task := range []string{"api", "my.task", "a.stdout", "x-y_z"} {
		for _, s := range Streams {
			for _, n := range []uint64{0, 1, 99, 1<<64 - 1} {
				name := LogFileName(task, s, n)
				lf, ok := ParseLogFileName(name)
				if !ok || lf != (LogFile{Task: task, Stream: s, N: n}) {
					t.Errorf("round trip of %q: %+v %v", name, lf, ok)
				}
				if got, ok := MatchLogFile(name, task, s); !ok || got != n {
					t.Errorf("MatchLogFile(%q) = %d %v", name, got, ok)
				}
			}
		}
	}
}
