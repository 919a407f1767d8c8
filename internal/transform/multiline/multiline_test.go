package multiline

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform/transformtest"
)

func newJoiner(t testing.TB, set func(*Config)) *Joiner {
	t.Helper()
	c := NewConfig()
	set(c)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, _ := transformtest.Context(Type)
	return New(ctx, c)
}

func feed(t *testing.T, j *Joiner, out *transformtest.Collector, m *event.Meta, lines ...string) *transformtest.AckResult {
	t.Helper()
	res, err := transformtest.Process(j, out, transformtest.Events(m, lines...)...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestJavaTraceAcrossBatchesHoldsBothAcks(t *testing.T) {
	j := newJoiner(t, func(c *Config) { c.Preset = "java" })
	out := &transformtest.Collector{}
	m := transformtest.Meta("prod", "api")
	r1 := feed(t, j, out, m, "INFO start", "Exception in thread \"main\" java.lang.IllegalStateException: boom", "\tat a.B.c(B.java:1)")
	if got := out.Messages(); fmt.Sprint(got) != "[INFO start]" {
		t.Fatalf("after batch 1: %q", got)
	}
	out.Release(event.Delivered)
	if done, _ := r1.Done(); done {
		t.Fatal("batch 1 acknowledged while its last lines are held in an unfinished record")
	}
	r2 := feed(t, j, out, m, "\tat a.D.e(D.java:2)", "Caused by: java.io.IOException: x", "\t... 3 more", "INFO next")
	want := "Exception in thread \"main\" java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)\n\tat a.D.e(D.java:2)\nCaused by: java.io.IOException: x\n\t... 3 more"
	if got := out.Messages(); len(got) != 1 || got[0] != want {
		t.Fatalf("joined %q", got)
	}
	if done, _ := r1.Done(); done {
		t.Fatal("batch 1 acknowledged before the joined event was delivered")
	}
	out.Release(event.Delivered)
	if done, ok := r1.Done(); !done || !ok {
		t.Fatal("batch 1 not acknowledged once the joined event was delivered")
	}
	if done, _ := r2.Done(); done {
		t.Fatal("batch 2 acknowledged while INFO next is still held")
	}
	if err := j.Flush(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	if got := out.Messages(); fmt.Sprint(got) != "[INFO next]" {
		t.Fatalf("flushed %q", got)
	}
	out.Release(event.Delivered)
	if done, ok := r2.Done(); !done || !ok {
		t.Fatal("batch 2 not acknowledged after the flush was delivered")
	}
}

func TestStopWithoutDeliveryLeavesTheRecordUnacknowledged(t *testing.T) {
	j := newJoiner(t, func(c *Config) { c.Preset = "python" })
	out := &transformtest.Collector{}
	m := transformtest.Meta("prod", "api")
	r := feed(t, j, out, m, "Traceback (most recent call last):", `  File "x.py", line 1, in <module>`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := j.Flush(ctx, out); err == nil {
		t.Fatal("a flush after the deadline must say so")
	}
	if len(out.Events()) != 0 {
		t.Fatal("half a record was shipped")
	}
	if done, ok := r.Done(); !done || ok {
		t.Fatal("the batch of a record that was not delivered must fail (to be read again)")
	}
}

func TestPresets(t *testing.T) {
	for _, c := range []struct {
		preset string
		lines  []string
		want   []string
	}{
		{"python", []string{"INFO a", "Traceback (most recent call last):", `  File "x.py", line 3, in f`, "    raise ValueError(1)", "ValueError: 1", "INFO b"},
			[]string{"INFO a", "Traceback (most recent call last):\n  File \"x.py\", line 3, in f\n    raise ValueError(1)\nValueError: 1", "INFO b"}},
		{"go", []string{"starting", "panic: runtime error: index out of range", "", "goroutine 1 [running]:", "main.main()", "\t/app/main.go:12 +0x1d", "exit status 2", "next run"},
			[]string{"starting", "panic: runtime error: index out of range\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d\nexit status 2", "next run"}},
		{"ruby", []string{"app.rb:3:in `f': boom (RuntimeError)", "\tfrom app.rb:7:in `<main>'", "done"},
			[]string{"app.rb:3:in `f': boom (RuntimeError)\n\tfrom app.rb:7:in `<main>'", "done"}},
		{"dotnet", []string{"System.Exception: outer ---> System.IO.IOException: inner", "   at A.B()", "   --- End of inner exception stack trace ---", "   at C.D()", "ok"},
			[]string{"System.Exception: outer ---> System.IO.IOException: inner\n   at A.B()\n   --- End of inner exception stack trace ---\n   at C.D()", "ok"}},
	} {
		t.Run(c.preset, func(t *testing.T) {
			j := newJoiner(t, func(cfg *Config) { cfg.Preset = c.preset })
			out := &transformtest.Collector{}
			m := transformtest.Meta("p", "j")
			feed(t, j, out, m, c.lines...)
			if err := j.Flush(context.Background(), out); err != nil {
				t.Fatal(err)
			}
			if got := out.Messages(); strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestStreamsAreJoinedSeparately(t *testing.T) {
	j := newJoiner(t, func(c *Config) { c.Continue = `^\s` })
	out := &transformtest.Collector{}
	a, b := transformtest.Meta("p", "a"), transformtest.Meta("p", "b")
	evs := []event.Event{}
	evs = append(evs, transformtest.Events(a, "a1")...)
	evs = append(evs, transformtest.Events(b, "b1")...)
	evs = append(evs, transformtest.Events(a, " a2")...)
	evs = append(evs, transformtest.Events(b, " b2")...)
	transformtest.Process(j, out, evs...)
	j.Flush(context.Background(), out)
	got := out.Messages()
	if len(got) != 2 || !(got[0] == "a1\n a2" && got[1] == "b1\n b2" || got[1] == "a1\n a2" && got[0] == "b1\n b2") {
		t.Fatalf("%q", got)
	}
}

func TestLimits(t *testing.T) {
	j := newJoiner(t, func(c *Config) { c.Continue = `^\s`; c.MaxLines = 3 })
	out := &transformtest.Collector{}
	m := transformtest.Meta("p", "j")
	feed(t, j, out, m, "a", " 1", " 2", " 3", " 4")
	j.Flush(context.Background(), out)
	if got := out.Messages(); fmt.Sprint(got) != "[a\n 1\n 2  3\n 4]" {
		t.Fatalf("%q", got)
	}
	j = newJoiner(t, func(c *Config) { c.Continue = `^\s`; c.MaxBytes = 64 })
	out = &transformtest.Collector{}
	feed(t, j, out, m, "a", " "+strings.Repeat("x", 100), " y")
	j.Flush(context.Background(), out)
	evs := out.Events()
	if len(evs) != 2 || len(evs[0].Message) != 64 || evs[0].Flags&event.Truncated == 0 {
		t.Fatalf("%q", out.Messages())
	}
}

func TestTimeoutFlush(t *testing.T) {
	j := newJoiner(t, func(c *Config) { c.Preset = "java"; c.FlushTimeout = 50 * time.Millisecond })
	var mu sync.Mutex
	clock := time.Unix(100, 0)
	j.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	out := &transformtest.Collector{}
	r := feed(t, j, out, transformtest.Meta("p", "j"), "only line")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { j.Run(ctx, out); close(done) }()
	mu.Lock()
	clock = clock.Add(49 * time.Millisecond)
	mu.Unlock()
	time.Sleep(30 * time.Millisecond) // several ticks with the clock short of the timeout
	if j.Open() != 1 {
		t.Fatal("flushed before the timeout")
	}
	mu.Lock()
	clock = clock.Add(time.Millisecond)
	mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for j.Open() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if got := out.Messages(); fmt.Sprint(got) != "[only line]" {
		t.Fatalf("%q", got)
	}
	out.Release(event.Delivered)
	if d, ok := r.Done(); !d || !ok {
		t.Fatal("not acknowledged after the timed flush")
	}
}

func TestHints(t *testing.T) {
	j := newJoiner(t, func(c *Config) {})
	out := &transformtest.Collector{}
	java := transformtest.Meta("p", "j", "drover.multiline=java")
	plain := transformtest.Meta("p", "k")
	evs := append(transformtest.Events(java, "E", "\tat x"), transformtest.Events(plain, "a", "\tat y")...)
	transformtest.Process(j, out, evs...)
	j.Flush(context.Background(), out)
	got := out.Messages()
	if strings.Join(got, "|") != "a|\tat y|E\n\tat x" {
		t.Fatalf("%q", got)
	}
}

func TestValidate(t *testing.T) {
	for name, set := range map[string]func(*Config){
		"both":           func(c *Config) { c.Preset = "java"; c.Start = "x" },
		"unknown preset": func(c *Config) { c.Preset = "cobol" },
		"bad regex":      func(c *Config) { c.Continue = "(" },
		"nothing":        func(c *Config) { c.Hints = false },
		"max lines":      func(c *Config) { c.Preset = "java"; c.MaxLines = 1 },
	} {
		c := NewConfig()
		set(c)
		if c.Validate() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func BenchmarkMultiline(b *testing.B) {
	lines := make([]string, 0, 512)
	for len(lines) < 512 {
		lines = append(lines, "INFO request served", "Exception in thread main java.lang.X: y", "\tat a.B.c(B.java:1)", "\tat a.B.d(B.java:2)")
	}
	j := newJoiner(b, func(c *Config) { c.Preset = "java" })
	transformtest.Bench(b, j, &transformtest.Sink{}, transformtest.Events(transformtest.Meta("p", "j"), lines...))
}

func BenchmarkMultilinePassThrough(b *testing.B) {
	lines := make([]string, 512)
	for i := range lines {
		lines[i] = "INFO request served"
	}
	j := newJoiner(b, func(c *Config) {})
	transformtest.Bench(b, j, &transformtest.Sink{}, transformtest.Events(transformtest.Meta("p", "j"), lines...))
}
