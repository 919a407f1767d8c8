// Package dirlock takes the lock file that keeps two holders (two drover
// processes on one data_dir, two disk buffers on one directory) from using
// one directory at once: an exclusive, non-blocking flock(2), released when
// its file is closed or the process dies, so that a crashed holder never
// leaves a stale lock behind.
package dirlock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrHeld is wrapped by Lock's error when another holder has the lock.
var ErrHeld = errors.New("lock held")

// Lock creates the file path if it does not exist and takes an exclusive
// flock on it without waiting. The lock lasts until the returned file is
// closed or the process dies. When another open file holds the lock the
// error wraps ErrHeld; other errors say what failed with path.
func Lock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("locking %s: %w", path, ErrHeld)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}
