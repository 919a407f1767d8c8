package disk

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

// The crash test runs this test binary again as a child process that writes
// to (and, in "ack" mode, also reads from) a buffer, reports what it did on
// standard output, and is killed with SIGKILL at a random moment.
const (
	crashChildEnv = "DROVER_DISK_CRASH_CHILD" // the buffer directory
	crashModeEnv  = "DROVER_DISK_CRASH_MODE"  // "write" or "ack"
	crashRoundEnv = "DROVER_DISK_CRASH_ROUND"
)

// crashChild is the child's main. Output lines:
//
//	R          the buffer is open
//	D <name>   the batch was acknowledged upstream (durable)
//	S <name>   the sink took the batch (printed before releasing it)
func crashChild() {
	dir, mode, round := os.Getenv(crashChildEnv), os.Getenv(crashModeEnv), os.Getenv(crashRoundEnv)
	b, err := Open(Options{Dir: dir, Limits: Limits{MaxSize: 8 << 20, FsyncInterval: 20 * time.Millisecond},
		SegmentSize: 64 << 10, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	say := func(kind, name string) {
		mu.Lock()
		os.Stdout.WriteString(kind + " " + name + "\n")
		mu.Unlock()
	}
	say("R", "") // opened
	if mode == "ack" {
		go func() {
			for {
				bt, err := b.Next(context.Background())
				if err != nil {
					return
				}
				name, _, _ := strings.Cut(string(bt.Events[0].Message), "/")
				say("S", name)
				bt.Ack.Release(event.Delivered)
			}
		}()
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for seq := 0; ; seq++ {
		name := fmt.Sprintf("r%s-%d", round, seq)
		n := 1 + rng.Intn(40)
		evs := make([]event.Event, n)
		for i := range evs {
			evs[i] = event.Event{Timestamp: time.Now(), Message: []byte(fmt.Sprintf("%s/%d/%d %s", name, i, n, strings.Repeat("x", rng.Intn(300)))), Meta: testMeta}
		}
		bt := &event.Batch{Events: evs, Ack: event.NewAck(func(ok bool) {
			if ok {
				say("D", name)
			}
		})}
		if err := b.Push(context.Background(), bt); err != nil {
			fmt.Fprintln(os.Stderr, "push:", err)
			os.Exit(2)
		}
		bt.Ack.Release(event.Delivered)
	}
}

// TestCrashKeepsEverythingAcknowledgedUpstream kills a writer (and reader)
// with SIGKILL many times and checks that every batch the buffer
// acknowledged upstream was either taken by the sink or is still in the
// buffer, complete, after the crashes.
func TestCrashKeepsEverythingAcknowledgedUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("DROVER_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (rerun with DROVER_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	h := newHarness(t)
	durable, taken := map[string]bool{}, map[string]bool{}
	const rounds = 16
	for round := 0; round < rounds; round++ {
		mode := "write"
		if round%2 == 1 {
			mode = "ack"
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+h.dir, crashModeEnv+"="+mode, crashRoundEnv+"="+strconv.Itoa(round))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Kill at a random moment after the child made some progress.
		var killTimer <-chan time.Time
		timeout := time.After(20 * time.Second)
		for lines != nil {
			select {
			case line, ok := <-lines:
				if !ok {
					lines = nil
					break
				}
				kind, name, _ := strings.Cut(line, " ")
				switch kind {
				case "R":
					// Open returned (it must, whatever the crash left):
					// kill at a random moment from now. The child may
					// block meanwhile when the buffer is full.
					timeout = nil
					killTimer = time.After(time.Duration(10+rng.Intn(300)) * time.Millisecond)
				case "D":
					durable[name] = true
				case "S":
					taken[name] = true
				}
			case <-killTimer:
				cmd.Process.Signal(syscall.SIGKILL)
				killTimer = nil
			case <-timeout:
				cmd.Process.Signal(syscall.SIGKILL)
				t.Fatalf("round %d: the child did not open the buffer within 20s; stderr:\n%s", round, stderr.String())
			}
		}
		werr := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child ended by itself (%v); stderr:\n%s", round, werr, stderr.String())
		}
	}
	// What remains in the buffer, read by this process.
	b := h.open()
	remaining := map[string]int{}
	counts := map[string]int{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		bt, err := b.Next(ctx)
		cancel()
		if err != nil {
			break
		}
		for _, e := range bt.Events {
			parts := strings.SplitN(string(e.Message), "/", 3)
			n, _ := strconv.Atoi(strings.Fields(parts[2])[0])
			remaining[parts[0]]++
			counts[parts[0]] = n
		}
		bt.Ack.Release(event.Delivered)
	}
	lost := 0
	for name := range durable {
		if !taken[name] && remaining[name] == 0 {
			lost++
			if lost < 10 {
				t.Errorf("batch %s was acknowledged upstream, never taken by the sink, and is not in the buffer", name)
			}
		}
	}
	for name, got := range remaining {
		// A batch read again after a crash appears once per delivery;
		// every delivery is complete.
		if got%counts[name] != 0 {
			t.Errorf("batch %s: %d events in the buffer, not a multiple of its %d", name, got, counts[name])
		}
	}
	t.Logf("%d rounds: %d batches acknowledged upstream, %d taken by the sink, %d left in the buffer, %d damage reports",
		rounds, len(durable), len(taken), len(remaining), int(h.corrupt()))
	if lost > 0 {
		t.Fatalf("%d acknowledged batches lost", lost)
	}
	if len(durable) < rounds*10 {
		t.Fatalf("only %d batches were acknowledged; the test exercised too little", len(durable))
	}
}
