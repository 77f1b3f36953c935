//go:build !unix

package sqlite

import "os"

// lockFile creates path; without flock(2) the lock is advisory only.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

// heldByOther cannot tell without flock(2): no run is taken for alive, as
// before run locks existed.
func heldByOther(string) (bool, error) { return false, nil }
