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
	for range 6 {
		p.Schedule(now, false, true, nil)
	}
	if d := p.Next.Sub(now); d != MaxPollWatched {
		t.Fatalf("watched wait at the longest backoff: %v", d)
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

func TestPollTimesShareAGrid(t *testing.T) {
	base := time.Unix(1000, 0)
	seen := map[time.Time]bool{}
	for i := range 1000 {
		now := base.Add(time.Duration(i) * 997 * time.Microsecond)
		p := Poll{backoff: MaxPollWatched}
		p.Schedule(now, false, true, nil)
		if d := p.Next.Sub(now); d < MaxPollWatched || d >= MaxPollWatched+LongPollGrid {
			t.Fatalf("poll at %v scheduled %v later", now, d)
		}
		if p.Next.Sub(base)%LongPollGrid != 0 {
			t.Fatalf("poll at %v not on the grid", p.Next)
		}
		seen[p.Next] = true
	}
	// 1000 long polls spread over a second fall on 2 instants of the long
	// grid; short backoffs on the 40 instants of the short one.
	if len(seen) > 2 {
		t.Errorf("%d distinct long poll times", len(seen))
	}
	clear(seen)
	for i := range 1000 {
		now := base.Add(time.Duration(i) * 997 * time.Microsecond)
		p := Poll{backoff: 100 * time.Millisecond}
		p.Schedule(now, false, true, nil)
		if d := p.Next.Sub(now); d < 200*time.Millisecond || d >= 200*time.Millisecond+PollGrid {
			t.Fatalf("poll at %v scheduled %v later", now, d)
		}
		if p.Next.Sub(base)%PollGrid != 0 {
			t.Fatalf("poll at %v not on the grid", p.Next)
		}
		seen[p.Next] = true
	}
	if len(seen) > 41 {
		t.Errorf("%d distinct poll times", len(seen))
	}
}
