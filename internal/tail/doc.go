// Package tail reads growing log files: file identity, line framing, and the
// bookkeeping that turns acknowledged batches into a durable read position.
//
// It has no opinion on which files to read or when: a source discovers files
// (globs, Nomad allocations), decides when to poll each one, and emits the
// batches a Reader produces. The pieces, from the bottom up:
//
//   - FileID and Fingerprint identify a file across renames and restarts:
//     device and inode plus a CRC-32C of its first bytes (up to MaxHead).
//   - Framer splits a byte stream into lines, holding an unfinished last
//     line and truncating over-long ones without buffering them.
//   - Progress tracks the batches in flight for one file and moves the
//     committed offset over the contiguous prefix acknowledged ok (a
//     checkpoint.Tracker of offsets, with the file's fingerprint).
//   - Reader ties these together for one open file: it reads a chunk into a
//     caller-owned buffer, frames it into an event.Batch whose messages live
//     in one arena, and gives each batch an Ack wired to its Progress.
//   - Budget bounds the descriptors of a source's Readers (max_open_files):
//     idle Readers at their end are parked (descriptor closed, state kept)
//     and reopened by identity when their file changes.
//
// A Reader is used by one goroutine at a time. Acks may fire on any
// goroutine; Progress is safe for that.
package tail
