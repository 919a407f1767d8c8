package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/metrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFlusherSavesOnlyWhenMarked(t *testing.T) {
	var saves atomic.Int32
	f := NewFlusher(5*time.Millisecond, func() error { saves.Add(1); return nil }, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f.Run(ctx) }()
	time.Sleep(30 * time.Millisecond)
	if n := saves.Load(); n != 0 {
		t.Fatalf("saved %d times without changes", n)
	}
	f.Mark()
	deadline := time.Now().Add(5 * time.Second)
	for saves.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no save after Mark")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	n := saves.Load()
	if err := f.Flush(); err != nil || saves.Load() != n {
		t.Fatalf("Flush without change saved again (err %v)", err)
	}
	f.Mark()
	if err := f.Flush(); err != nil || saves.Load() != n+1 {
		t.Fatalf("Flush after Mark: err %v saves %d", err, saves.Load())
	}
}

func TestFlusherRetriesAndCounts(t *testing.T) {
	m := metrics.ForTest("source", "file", "x")
	fail := true
	f := NewFlusher(time.Second, func() error {
		if fail {
			return errors.New("disk full")
		}
		return nil
	}, nil, m.Errors("checkpoint"))
	f.Mark()
	if err := f.Flush(); err == nil {
		t.Fatal("no error")
	}
	if err := f.Flush(); err == nil {
		t.Fatal("failed save was forgotten")
	}
	if got := testutil.ToFloat64(m.Errors("checkpoint")); got != 2 {
		t.Fatalf("errors = %v", got)
	}
	fail = false
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A run of failed saves is logged once, and its end once, with the run's
// count of failures.
func TestFlusherLogsARunOfFailuresOnce(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	fail := true
	f := NewFlusher(time.Second, func() error {
		if fail {
			return errors.New("disk full")
		}
		return nil
	}, logger, nil)
	f.Mark()
	for range 3 {
		if err := f.Flush(); err == nil {
			t.Fatal("no error")
		}
	}
	fail = false
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := strings.Count(out, "saving checkpoint failed"); n != 1 || !strings.Contains(out, "disk full") || !strings.Contains(out, "level=ERROR") {
		t.Fatalf("%d failure lines, want 1 at error level naming the error:\n%s", n, out)
	}
	if n := strings.Count(out, "saving checkpoint works again"); n != 1 || !strings.Contains(out, "failures=3") {
		t.Fatalf("%d recovery lines, want 1 with failures=3:\n%s", n, out)
	}
}
