package checkpoint

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestFlusherStart(t *testing.T) {
	var saves atomic.Int32
	f := NewFlusher(5*time.Millisecond, func() error { saves.Add(1); return nil }, nil, nil)
	stop := f.Start()
	f.Mark()
	deadline := time.Now().Add(5 * time.Second)
	for saves.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no save while started")
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	f.Mark()
	time.Sleep(20 * time.Millisecond) // several intervals: a stopped flusher must not save
	if n := saves.Load(); n != 1 {
		t.Fatalf("%d saves, want 1", n)
	}
}
