//go:build !unix

package tail

// openFileLimit is unknown on this platform.
func openFileLimit() uint64 { return 0 }
