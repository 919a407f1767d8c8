package proc

import (
	"os"
	"testing"
	"time"
)

func TestReadSelf(t *testing.T) {
	if clockTicks() != 100 {
		t.Logf("USER_HZ is %d", clockTicks())
	}
	before, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		_ = make([]byte, 1)
	}
	after, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after.CPU - before.CPU; d < 100*time.Millisecond || d > 5*time.Second {
		t.Errorf("spent %v of CPU spinning 300ms", d)
	}
	if after.PeakRSS < 64<<20 || after.RSS <= 0 || after.PeakRSS < after.RSS {
		t.Errorf("memory %+v after touching 64 MiB", after)
	}
	_ = buf[len(buf)-1]
	if l, err := LoadAverage(); err != nil || l[0] < 0 {
		t.Errorf("load %v: %v", l, err)
	}
}
