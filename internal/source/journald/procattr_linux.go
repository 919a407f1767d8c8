package journald

import "syscall"

// procAttr makes the kernel stop journalctl when drover dies (also by
// SIGKILL), so that no orphaned journalctl keeps following the journal.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
