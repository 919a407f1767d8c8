package tail

import (
	"path/filepath"
	"testing"
	"time"
)

func TestPollBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	var p Poll
	if !p.Due(now) {
		t.Fatal("the zero Poll is not due")
	}
	var waits []time.Duration
	for range 7 {
		p.Schedule(now, false, false, nil)
		waits = append(waits, p.Next.Sub(now))
	}
	want := []time.Duration{25, 50, 100, 200, 250, 250, 250}
	for i, w := range want {
		if waits[i] != w*time.Millisecond {
			t.Fatalf("unwatched waits %v", waits)
		}
	}
	p.Schedule(now, false, true, nil)
	if d := p.Next.Sub(now); d != 500*time.Millisecond {
		t.Fatalf("watched wait after 250ms: %v", d)
	}
	p.Schedule(now, true, true, nil)
	if !p.Next.Equal(now) || !p.Due(now) {
		t.Fatalf("after data: %v", p.Next)
	}
	p.Schedule(now, false, true, nil)
	if d := p.Next.Sub(now); d != MinPoll {
		t.Fatalf("backoff not reset by data: %v", d)
	}
}

func TestPollPartialDeadline(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	writeFile(t, path, "held")
	r, err := Open(path, Options{PartialLineTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	now := time.Unix(1000, 0)
	readAll(t, r, make([]byte, 64), now)
	p := Poll{backoff: MaxPollWatched}
	p.Schedule(now, false, true, r)
	if d := p.Next.Sub(now); d != 100*time.Millisecond {
		t.Fatalf("next poll in %v, want the held line's deadline", d)
	}
}
