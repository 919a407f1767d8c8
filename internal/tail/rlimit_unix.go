//go:build unix

package tail

import "syscall"

// openFileLimit is the process's limit on open descriptors (the soft
// RLIMIT_NOFILE, which the Go runtime raises to the hard limit at start);
// 0 when unknown.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}
