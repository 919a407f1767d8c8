// Package file implements the "file" source: it follows the files matching
// glob patterns, across rotations and restarts, and emits their lines.
//
// It is internal/discovery/glob (the files matching the patterns, each one
// target keyed by its identity, found by periodic scans sped up by
// fsnotify) and internal/follow (reading, the open-file budget, positions
// and checkpoints, losses). All files are served by one goroutine with one
// read buffer, round-robin, so that 1000 open files cost 1000 descriptors
// and a little bookkeeping, not 1000 buffers. Read positions are saved in
// a checkpoint file under the data directory (see state.go); a renamed
// file's rest is read until it stayed unchanged for rotate_wait.
//
// docs/components/source-file.md is the user documentation.
package file
