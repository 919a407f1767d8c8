package tail

import (
	"path/filepath"
	"testing"
)

// A checkpoint damaged or edited by hand can hold any head length; a
// negative one used to panic (slice bounds) at start, in a crash loop.
func TestMatchRejectsHeadLengthsOutOfRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "hello\n")
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, n := range []int{-1, -1 << 40, MaxHead + 1} {
		m, err := r.Match(Fingerprint{FileID: r.ID(), HeadLen: n}, 0)
		if err != nil || m != Reused {
			t.Errorf("head length %d: %v, %v; want %v", n, m, err, Reused)
		}
	}
}
