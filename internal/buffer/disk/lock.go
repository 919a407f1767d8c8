package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/drover-dev/drover/internal/dirlock"
)

// lockDir takes an exclusive flock on dir/lock, so that two buffers never
// write one directory. The lock goes with the returned file.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "lock")
	f, err := dirlock.Lock(path)
	if errors.Is(err, dirlock.ErrHeld) {
		return nil, fmt.Errorf("disk buffer %s is in use (lock %s held)", dir, path)
	}
	return f, err
}
