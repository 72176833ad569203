//go:build !unix

package control

import (
	"errors"
	"os"
)

// ownerUID cannot tell the owner on this system.
func ownerUID(fi os.FileInfo) (int, bool) { return 0, false }

// tryLock fails: without a lock, two agents could both take the data
// directory, so none starts.
func tryLock(f *os.File) (bool, error) {
	return false, errors.New("the control socket is not supported on this system")
}
