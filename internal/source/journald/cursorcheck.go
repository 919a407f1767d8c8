package journald

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// invalidCursorError is a saved cursor the journal cannot resume from.
type invalidCursorError struct {
	cursor string
	reason string
}

// Error names the cursor and why it is unusable.
func (e *invalidCursorError) Error() string {
	return fmt.Sprintf("journal cursor %q is unusable: %s", e.cursor, e.reason)
}

// checkCursor asks journalctl for the entry at cursor, without the
// source's selection. It returns nil when the journal still holds it, an
// *invalidCursorError when journalctl rejects the cursor or the journal no
// longer holds its entry (rotated or vacuumed away, or another journal),
// and another error when journalctl fails.
func (s *Source) checkCursor(ctx context.Context, cursor string) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	p, err := startProcess(ctx, s.path, s.cfg.checkArgs(cursor), maxLineBytes, nil)
	if err != nil {
		return err
	}
	var found []byte
	var e rawEntry
	for found == nil {
		line, skipped, rerr := p.lines.next()
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				_ = p.wait()
				return fmt.Errorf("checking the journal cursor: %w", rerr)
			}
			break
		}
		if skipped > 0 {
			found = []byte{} // an entry, too large to tell: not the cursor's
			break
		}
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		if err := decodeEntry(line, &e); err != nil {
			_ = p.wait()
			return fmt.Errorf("checking the journal cursor: %w", err)
		}
		c, _ := e.lookup(fieldCursor)
		found = append([]byte{}, c...)
	}
	if found != nil {
		p.stop()
	}
	werr := p.wait()
	var ee *exitError
	switch {
	case errors.As(werr, &ee) && ee.code != 0 && ee.badCursor():
		return &invalidCursorError{cursor: cursor, reason: "journalctl rejects it: " + ee.stderr}
	case errors.As(werr, &ee) && ee.code != 0:
		return fmt.Errorf("checking the journal cursor: %w", werr)
	case werr != nil && !errors.As(werr, &ee):
		return werr
	case ctx.Err() != nil:
		return fmt.Errorf("checking the journal cursor: %w", ctx.Err())
	case found == nil:
		return &invalidCursorError{cursor: cursor, reason: "the journal holds no entry at or after it"}
	case string(found) != cursor:
		return &invalidCursorError{cursor: cursor, reason: "the journal no longer holds its entry (rotated or vacuumed, or another journal)"}
	}
	return nil
}
