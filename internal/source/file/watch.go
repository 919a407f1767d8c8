package file

import (
	"path/filepath"

	"github.com/drover-dev/drover/internal/fswatch"
)

// watcher reports writes and directory changes (see internal/fswatch).
type watcher = fswatch.Watcher

// startWatcher starts a watcher; a variable so that tests can make fsnotify
// unavailable.
var startWatcher = fswatch.New

// dirOf is the directory whose watch reports writes to path.
func dirOf(path string) string { return filepath.Dir(path) }
