package dirlock

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestLockIsExclusiveUntilClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	f, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path); !errors.Is(err, ErrHeld) {
		t.Fatalf("second Lock while held: err = %v, want ErrHeld", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := Lock(path)
	if err != nil {
		t.Fatalf("Lock after the holder closed its file: %v", err)
	}
	g.Close()
}

func TestLockReportsAFileItCannotOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "lock")
	if _, err := Lock(path); err == nil || errors.Is(err, ErrHeld) {
		t.Fatalf("Lock in a missing directory: err = %v, want an error opening the file", err)
	}
}
