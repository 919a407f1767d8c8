package follow

import (
	"testing"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/tail"
)

func TestPositionCurrent(t *testing.T) {
	fp := func(ino uint64) tail.Fingerprint { return tail.Fingerprint{FileID: tail.FileID{Dev: 1, Ino: ino}} }
	var p position
	if _, _, _, ok := p.current(); ok {
		t.Fatal("an empty position has a current file")
	}
	p0 := tail.NewProgress(fp(10), 0, nil, nil)
	p1 := tail.NewProgress(fp(11), 0, nil, nil)
	p2 := tail.NewProgress(fp(12), 0, nil, nil)
	f0 := p.add(0, p0)
	f1 := p.add(1, p1)
	p.add(2, p2)
	check := func(what string, n uint64, off int64) {
		t.Helper()
		gn, gfp, goff, ok := p.current()
		if !ok || gn != n || goff != off || gfp.Ino != 10+n {
			t.Fatalf("%s: current = %d@%d (ino %d), want %d@%d", what, gn, goff, gfp.Ino, n, off)
		}
	}
	// File 0 is read to 100 and left with its last line (from 80) handed
	// over to file 1.
	a := p0.Add(80)
	f0.end, f0.joined = 80, f1
	check("nothing acknowledged", 0, 0)
	a.Release(event.Delivered)
	check("file 0 acknowledged up to the split line", 0, 80)
	b := p1.Add(30) // the joined line ends at 30 in file 1
	c := p1.Add(60)
	c.Release(event.Delivered)
	check("a later batch of file 1 acknowledged first", 0, 80)
	b.Release(event.Delivered)
	check("the joined line acknowledged", 1, 60)
	f1.end = 60
	check("file 1 left, all acknowledged", 2, 0)
	if len(p.files) != 1 {
		t.Fatalf("finished files kept: %d", len(p.files))
	}
	// The last file stays current when it is finished too.
	p.files[0].end = 0
	check("every file finished", 2, 0)
	if p.failed() {
		t.Fatal("failed without a failed batch")
	}
	p2.Add(10).Release(event.Failed)
	if !p.failed() {
		t.Fatal("a failed batch is not reported")
	}
}
