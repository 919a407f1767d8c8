// Package checkpoint keeps the durable state of sources: read positions of
// files, cursors of journals and event streams.
//
// A state file is a versioned JSON document that is replaced atomically
// (File); a Flusher writes it periodically while the state changes and once
// more on demand at shutdown. The package knows nothing about what a state
// contains: each source defines its own JSON shape and version.
package checkpoint
