package checkpoint

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// LoadReported loads the state like Load and reports what is wrong with
// the file, as a source does at start: an unusable file is counted in errs
// (may be nil) and logged, as a warning when its previous version could be
// used instead, as an error when none could (without says in the log what
// the source does then, "files are read according to read_from").
//
// found reports whether a state was loaded; unusable, that a state file
// existed but neither it nor its backup could be used. err is set only when
// the file could not be read at all (permissions, I/O): the source cannot
// start without risking to read everything again.
func (f File) LoadReported(state any, log *slog.Logger, errs prometheus.Counter, without string) (found, unusable bool, err error) {
	found, err = f.Load(state)
	var corrupt *CorruptError
	if err != nil && errs != nil {
		errs.Inc()
	}
	switch {
	case err == nil:
		return found, false, nil
	case !errors.As(err, &corrupt) && !errors.Is(err, fs.ErrNotExist):
		return false, false, fmt.Errorf("loading checkpoint: %w", err)
	case found:
		log.Warn("checkpoint unusable; using its previous version (some lines may be sent again)", "error", err)
		return true, false, nil
	}
	log.Error("checkpoint unusable; starting without one ("+without+")", "error", err)
	return false, true, nil
}
