package harness

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// programTB lets a program use nomadtest, whose constructors take a
// testing.TB: Helper does nothing, Errorf records the failure, Fatalf
// panics, Cleanup functions run at cleanup, last added first. Only those
// methods (and Logf) may be called: the embedded testing.TB is nil.
type programTB struct {
	testing.TB

	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (t *programTB) Helper() {}

func (t *programTB) Logf(format string, args ...any) {}

func (t *programTB) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs = append(t.errs, fmt.Sprintf(format, args...))
}

func (t *programTB) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

func (t *programTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// cleanup runs the cleanup functions and returns the errors recorded.
func (t *programTB) cleanup() []string {
	t.mu.Lock()
	fs := slices.Clone(t.cleanups)
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.errs)
}
