package tail

// Bounds of DefaultMaxOpenFiles.
const (
	// minDefaultOpenFiles is the default budget under a tiny limit.
	minDefaultOpenFiles = 64
	// maxDefaultOpenFiles caps the default under a huge (or infinite)
	// limit: beyond it, parking idle files costs less than the kernel
	// memory of that many open files.
	maxDefaultOpenFiles = 65536
	// unknownLimitOpenFiles is the default where the limit is unknown.
	unknownLimitOpenFiles = 1024
)

// DefaultMaxOpenFiles is the max_open_files of a source that does not set
// it: half the process's limit on open descriptors (RLIMIT_NOFILE, as the
// Go runtime raised it at start), so that the other half stays for
// sockets, the disk buffer, checkpoints and other sources; at least 64 and
// at most 65536; 1024 where the limit is unknown.
func DefaultMaxOpenFiles() int { return defaultMaxOpenFiles(openFileLimit()) }

func defaultMaxOpenFiles(limit uint64) int {
	if limit == 0 {
		return unknownLimitOpenFiles
	}
	return int(min(max(limit/2, minDefaultOpenFiles), maxDefaultOpenFiles))
}
