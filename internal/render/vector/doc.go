// Package vector renders a Vector configuration from the allocations of
// one Nomad client node, for operators who keep Vector as their data plane
// and want only drover's Nomad knowledge (`drover vector render` and
// `drover vector watch`; docs/vector.md is the user documentation).
//
// # What is written
//
// One file per allocation, <file_prefix><alloc_id>.toml (or .yaml), in
// out_dir, the directory Vector loads with --config-dir and
// --watch-config. For every selected task of the allocation it defines
//
//   - a `file` source, <source_prefix><alloc_id>_<task>, that reads the
//     task's stdout and stderr files with exact globs (include
//     "<logs>/<task>.<stream>.[0-9]*" plus exclude
//     "<logs>/<task>.<stream>.*[!0-9]*": exactly the names
//     <task>.<stream>.<digits>; task "api" never reads
//     "api-proxy.stdout.0", and the fifos ".<task>.<stream>.fifo" never
//     match), with fingerprint.strategy "device_and_inode" (logmon never
//     renames, a file's identity is its inode), read_from "beginning" and
//     max_line_bytes;
//   - a `remap` transform, <name_prefix><alloc_id>_<task>, that sets
//     .nomad to the object the nomad_logs source builds (same field names)
//     and .stream to "stdout" or "stderr" from the event's file path.
//
// A sink of the user's own configuration reads every transform with
// inputs = ["<name_prefix>*"]; no source matches that pattern. While no
// allocation has a file, a placeholder file defines a transform of that
// name fed by a source that reads nothing, so the pattern always matches
// a component (Vector refuses an input pattern that matches nothing unless
// wildcard_matching is "relaxed").
//
// Every value is quoted for its language: TOMLString, TOMLMultiline,
// YAMLString and YAMLBlock for the file, VRLString inside the remap
// program, GlobEscape inside the globs. Rendered files are parsed before
// they are written. Built-in templates (templates/) produce the files;
// templates_dir replaces them with the user's (Funcs lists the functions
// they can call, AllocData and PlaceholderData what they receive).
//
// # The output directory
//
// Dir changes only drover's own files, recognised by their name
// (Names.Owned): files of other names in the directory are never
// touched, even when no allocation runs. Files are replaced atomically
// (a temporary file in the directory, fsync, rename) and only when their
// contents change, so Vector reloads only for real changes; Dir.Apply
// orders writes and removals so that Vector never sees two files that
// define the same component.
//
// # Lifecycle
//
// Render reads the node's allocation list once and writes the files.
// Watch follows the list through the nomad_logs source's discovery
// (internal/discovery/nomad: blocking queries, resyncs) and keeps the
// directory current: an allocation is added as soon as it is listed (a
// short batch allocation is still listed after it completed, so it is
// never missed), a terminal or garbage-collected one stays for
// stopped_grace so that Vector reads its last lines, then its file is
// removed.
package vector
