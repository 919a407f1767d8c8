// Package file implements the "file" source: it follows the files matching
// glob patterns, across rotations and restarts, and emits their lines.
//
// Discovery (this package) finds files by periodic glob scans, sped up by
// fsnotify events on the directories involved; reading, line framing and
// acknowledgement bookkeeping are internal/tail's. All files are served by
// one goroutine with one read buffer, round-robin, at most perFileBudget
// bytes per file per round, so that 1000 open files cost 1000 descriptors
// and a little bookkeeping, not 1000 buffers. Read positions are saved in a
// checkpoint file under the data directory (see state.go).
//
// docs/components/source-file.md is the user documentation.
package file
