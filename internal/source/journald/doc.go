// Package journald implements the journald source: it reads the systemd
// journal through journalctl and ships every entry as one event.
//
// journalctl is run with --follow --output=json --show-cursor --all, so the
// source needs no cgo and reads whatever journalctl reads: the local system
// journal, or the journal files of a directory (journal_directory), which
// may come from another machine. Each output line is one entry; decode.go
// decodes it without reflection into reused buffers, and entry.go turns it
// into an event: the MESSAGE field is the message, __REALTIME_TIMESTAMP the
// timestamp, _HOSTNAME the host, and the other fields go under "journald".
//
// Positions are journal cursors. A batch's position is the cursor of its
// last entry; the source persists the cursor of the contiguous prefix of
// batches every sink acknowledged (tracker.go, state.go) and restarts
// journalctl with --after-cursor at that cursor. Before it does, it asks
// journalctl whether the journal still holds the cursor's entry
// (cursorcheck.go): a cursor whose entry was rotated or vacuumed away, or
// one journalctl cannot parse, is reported and reading restarts as
// on_invalid_cursor says.
//
// docs/components/source-journald.md is the user documentation.
package journald
