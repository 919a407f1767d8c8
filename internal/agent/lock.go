package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/drover-dev/drover/internal/dirlock"
)

// lockDataDir takes an exclusive lock on dir so that two drover processes
// never share (and corrupt) one set of checkpoints. The lock is released
// when the returned file is closed or the process dies.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating data_dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, "drover.lock")
	f, err := dirlock.Lock(path)
	if errors.Is(err, dirlock.ErrHeld) {
		return nil, fmt.Errorf("data_dir %s is in use by another drover process (lock %s held)", dir, path)
	}
	return f, err
}
